package billing

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"

	platform "github.com/micro/platform"
)

// errOverflow is wrapped by the arithmetic below; callers name what overflowed.
var errOverflow = fmt.Errorf("exceeds %d, the largest amount or quantity billing holds", int64(math.MaxInt64))

// mulDiv returns a·b/c rounded half up (x.5 goes to x+1), for a, b ≥ 0 and c > 0.
// The product is held in 128 bits, so only a quotient beyond MaxInt64 fails.
func mulDiv(a, b, c int64) (int64, error) { return mulDivRound(a, b, c, true) }

// mulDivFloor returns a·b/c rounded down, like mulDiv.
func mulDivFloor(a, b, c int64) (int64, error) { return mulDivRound(a, b, c, false) }

func mulDivRound(a, b, c int64, halfUp bool) (int64, error) {
	if a < 0 || b < 0 || c <= 0 {
		return 0, fmt.Errorf("mulDiv(%d, %d, %d): operands out of range", a, b, c)
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return 0, errOverflow // the quotient needs more than 64 bits
	}
	q, r := bits.Div64(hi, lo, uint64(c))
	// r < c ≤ MaxInt64, so 2r fits in a uint64.
	if halfUp && 2*r >= uint64(c) {
		q++
	}
	if q > math.MaxInt64 {
		return 0, errOverflow
	}
	return int64(q), nil
}

// add returns a+b for a, b ≥ 0, or errOverflow.
func add(a, b int64) (int64, error) {
	if a > math.MaxInt64-b {
		return 0, errOverflow
	}
	return a + b, nil
}

// minorDigits is the number of decimals of the currencies whose minor unit is not a
// hundredth (ISO 4217; Stripe treats the same ones as zero- and three-decimal).
var minorDigits = map[string]int{
	"bif": 0, "clp": 0, "djf": 0, "gnf": 0, "jpy": 0, "kmf": 0, "krw": 0, "mga": 0,
	"pyg": 0, "rwf": 0, "ugx": 0, "vnd": 0, "vuv": 0, "xaf": 0, "xof": 0, "xpf": 0,
	"bhd": 3, "jod": 3, "kwd": 3, "omr": 3, "tnd": 3,
}

// MinorDigits returns how many decimals the minor unit of currency (an ISO 4217
// code, any case) has: 2 for most, 0 for yen-like currencies, 3 for dinar-like ones.
func MinorDigits(currency string) int {
	if d, ok := minorDigits[strings.ToLower(currency)]; ok {
		return d
	}
	return 2
}

// FormatAmount renders an amount of minor units for people, exactly: 123456 usd is
// "1,234.56 USD", 500 jpy is "500 JPY".
func FormatAmount(minor int64, currency string) string {
	sign := ""
	u := uint64(minor)
	if minor < 0 {
		sign = "-"
		u = uint64(-(minor + 1)) + 1 // MinInt64 too
	}
	digits := MinorDigits(currency)
	s := strconv.FormatUint(u, 10)
	if digits > 0 {
		if len(s) <= digits {
			s = strings.Repeat("0", digits-len(s)+1) + s
		}
		s = group(s[:len(s)-digits]) + "." + s[len(s)-digits:]
	} else {
		s = group(s)
	}
	return sign + s + " " + strings.ToUpper(currency)
}

// FormatQuantity renders n with thousands separators: 12345678 is "12,345,678".
func FormatQuantity(n int64) string {
	if n < 0 {
		return "-" + group(strconv.FormatUint(uint64(-(n+1))+1, 10))
	}
	return group(strconv.FormatInt(n, 10))
}

// group inserts a comma every three digits from the right of a string of digits.
func group(s string) string {
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	head := len(s) % 3
	if head > 0 {
		b.WriteString(s[:head])
	}
	for i := head; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// overflowError is the EINVALID a rating returns when what tried to exceed the
// int64 range: an invoice that cannot be held exactly is refused, never wrapped.
func overflowError(what string) error {
	return platform.Errorf(platform.EINVALID, "%s %v", what, errOverflow).
		WithHint("the usage or the prices are too large to rate exactly; check the plan's unit_amount and per and the rollups' quantities")
}
