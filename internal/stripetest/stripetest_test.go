package stripetest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// call sends a request as stripe-go would and decodes the answer; status 0 is no answer.
func call(t *testing.T, base, method, path string, form url.Values, key string) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	} else if form != nil {
		path += "?" + form.Encode()
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+Key)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, nil // no complete answer (Fail)
	}
	return resp.StatusCode, out
}

func TestStripeMockValidates(t *testing.T) {
	u := URL(t)
	if status, _ := call(t, u, "POST", "/v1/customers", url.Values{"name": {"Acme"}}, ""); status != 200 {
		t.Errorf("create a customer: status %d, want 200", status)
	}
	if status, out := call(t, u, "POST", "/v1/customers", url.Values{"no_such_param": {"x"}}, ""); status != 400 {
		t.Errorf("an unknown parameter: status %d (%v), want 400", status, out)
	}
	if URL(t) != u {
		t.Error("a second URL started another stripe-mock")
	}
}

func TestRecorder(t *testing.T) {
	r := NewRecorder(t, URL(t))
	create := url.Values{"customer": {"cus_1"}, "currency": {"usd"}, "metadata[ours]": {"inv-1"}}

	status, first := call(t, r.URL(), "POST", "/v1/invoices", create, "k1")
	if status != 200 || first["status"] != "draft" || first["metadata"].(map[string]any)["ours"] != "inv-1" {
		t.Fatalf("create: %d %v", status, first)
	}
	id := first["id"].(string)

	t.Run("a key replays the first answer", func(t *testing.T) {
		status, again := call(t, r.URL(), "POST", "/v1/invoices", create, "k1")
		if status != 200 || again["id"] != id {
			t.Errorf("replay: %d %v, want invoice %s", status, again["id"], id)
		}
		other := url.Values{"customer": {"cus_2"}, "currency": {"usd"}}
		if status, out := call(t, r.URL(), "POST", "/v1/invoices", other, "k1"); status != 400 ||
			out["error"].(map[string]any)["type"] != "idempotency_error" {
			t.Errorf("the key with other parameters: %d %v, want an idempotency_error", status, out)
		}
		if n := len(r.Objects("invoice")); n != 1 {
			t.Errorf("%d invoices, want 1", n)
		}
	})

	t.Run("lists and retrieval see the objects", func(t *testing.T) {
		_, l := call(t, r.URL(), "GET", "/v1/invoices", url.Values{"customer": {"cus_1"}}, "")
		if data := l["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != id {
			t.Errorf("invoices of cus_1: %v", data)
		}
		_, got := call(t, r.URL(), "GET", "/v1/invoices/"+id, nil, "")
		if got["id"] != id || got["status"] != "draft" {
			t.Errorf("retrieve: %v %v", got["id"], got["status"])
		}
	})

	t.Run("finalize once; no item after", func(t *testing.T) {
		if status, out := call(t, r.URL(), "POST", "/v1/invoices/"+id+"/finalize", nil, "f1"); status != 200 || out["status"] != "open" {
			t.Errorf("finalize: %d %v", status, out["status"])
		}
		if status, _ := call(t, r.URL(), "POST", "/v1/invoices/"+id+"/finalize", nil, "f2"); status != 400 {
			t.Errorf("finalize again: %d, want 400", status)
		}
		item := url.Values{"customer": {"cus_1"}, "invoice": {id}, "amount": {"100"}, "currency": {"usd"}}
		if status, _ := call(t, r.URL(), "POST", "/v1/invoiceitems", item, "i1"); status != 400 {
			t.Errorf("an item on an open invoice: %d, want 400", status)
		}
	})

	t.Run("search sees customers once keys expired", func(t *testing.T) {
		if status, _ := call(t, r.URL(), "POST", "/v1/customers", url.Values{"metadata[org]": {"acme"}}, "c1"); status != 200 {
			t.Fatal(status)
		}
		q := url.Values{"query": {"metadata['org']:'acme'"}}
		if _, l := call(t, r.URL(), "GET", "/v1/customers/search", q, ""); len(l["data"].([]any)) != 0 {
			t.Errorf("search found a customer before the keys expired")
		}
		r.ExpireKeys()
		if _, l := call(t, r.URL(), "GET", "/v1/customers/search", q, ""); len(l["data"].([]any)) != 1 {
			t.Errorf("search: %v, want the customer", l["data"])
		}
	})

	t.Run("faults", func(t *testing.T) {
		n := len(r.Objects("customer"))
		r.Fail(1, false)
		if status, _ := call(t, r.URL(), "POST", "/v1/customers", url.Values{}, "c2"); status != 0 {
			t.Errorf("a failed request got status %d", status)
		}
		if len(r.Objects("customer")) != n {
			t.Error("a request failed before execution created a customer")
		}
		r.Fail(1, true)
		if status, _ := call(t, r.URL(), "POST", "/v1/customers", url.Values{}, "c2"); status != 0 {
			t.Errorf("a failed request got status %d", status)
		}
		if len(r.Objects("customer")) != n+1 {
			t.Error("a request executed before its answer was lost created no customer")
		}
		if status, _ := call(t, r.URL(), "POST", "/v1/customers", url.Values{}, "c2"); status != 200 || len(r.Objects("customer")) != n+1 {
			t.Errorf("the retry: %d, %d customers, want 200 and %d", status, len(r.Objects("customer")), n+1)
		}
		last := r.Requests()[len(r.Requests())-1]
		if !last.Replayed || last.Executed {
			t.Errorf("the retry: %+v, want replayed", last)
		}
	})
}
