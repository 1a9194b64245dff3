package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("host\n")) }))
	defer srv.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	for _, tc := range []struct {
		name, target string
		want         int
	}{
		{"listening", srv.Listener.Addr().String(), 0},
		{"closed port", closedAddr, 1},
		{"not an address", "nowhere", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dial(tc.target); got != tc.want {
				t.Errorf("dial(%s) = %d, want %d", tc.target, got, tc.want)
			}
		})
	}
}
