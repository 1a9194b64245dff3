package billing

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestMulDiv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		a, b, c       int64
		halfUp, floor int64
		overflow      bool
	}{
		{name: "exact", a: 6, b: 50, c: 3, halfUp: 100, floor: 100},
		{name: "below half", a: 1, b: 49, c: 100, halfUp: 0, floor: 0},
		{name: "half goes up", a: 1, b: 50, c: 100, halfUp: 1, floor: 0},
		{name: "above half", a: 1, b: 51, c: 100, halfUp: 1, floor: 0},
		{name: "zero", a: 0, b: math.MaxInt64, c: 7, halfUp: 0, floor: 0},
		{name: "128-bit product", a: math.MaxInt64, b: 1_000_000_000, c: 1_000_000_000, halfUp: math.MaxInt64, floor: math.MaxInt64},
		{name: "max over itself", a: math.MaxInt64, b: math.MaxInt64, c: math.MaxInt64, halfUp: math.MaxInt64, floor: math.MaxInt64},
		{name: "quotient too large", a: math.MaxInt64, b: 2, c: 1, overflow: true},
		{name: "rounding past max", a: math.MaxInt64, b: 2, c: 2, halfUp: math.MaxInt64, floor: math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := mulDiv(tt.a, tt.b, tt.c)
			gotFloor, errFloor := mulDivFloor(tt.a, tt.b, tt.c)
			if tt.overflow {
				if err == nil || errFloor == nil {
					t.Fatalf("mulDiv = %d, %d; want overflow", got, gotFloor)
				}
				return
			}
			if err != nil || errFloor != nil || got != tt.halfUp || gotFloor != tt.floor {
				t.Errorf("mulDiv = %d, %v; floor %d, %v; want %d, %d", got, err, gotFloor, errFloor, tt.halfUp, tt.floor)
			}
		})
	}
}

// TestMulDivMatchesBig checks random operands against math/big: round half up is
// floor((2ab + c) / 2c).
func TestMulDivMatchesBig(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	maxInt := big.NewInt(math.MaxInt64)
	for range 20000 {
		a, b, c := r.Int64(), r.Int64N(1<<uint(r.IntN(63))), 1+r.Int64N(1<<uint(r.IntN(63)))
		want := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
		want.Mul(want, big.NewInt(2)).Add(want, big.NewInt(c))
		want.Quo(want, new(big.Int).Mul(big.NewInt(c), big.NewInt(2)))
		got, err := mulDiv(a, b, c)
		if want.Cmp(maxInt) > 0 {
			if err == nil {
				t.Fatalf("mulDiv(%d, %d, %d) = %d, want overflow", a, b, c, got)
			}
			continue
		}
		if err != nil || got != want.Int64() {
			t.Fatalf("mulDiv(%d, %d, %d) = %d, %v; want %s", a, b, c, got, err, want)
		}
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		amount   int64
		currency string
		want     string
	}{
		{0, "usd", "0.00 USD"},
		{5, "usd", "0.05 USD"},
		{123456, "usd", "1,234.56 USD"},
		{-250, "eur", "-2.50 EUR"},
		{500, "jpy", "500 JPY"},
		{1234567, "JPY", "1,234,567 JPY"},
		{1234, "kwd", "1.234 KWD"},
		{math.MaxInt64, "usd", "92,233,720,368,547,758.07 USD"},
		{math.MinInt64, "usd", "-92,233,720,368,547,758.08 USD"},
	}
	for _, tt := range tests {
		if got := FormatAmount(tt.amount, tt.currency); got != tt.want {
			t.Errorf("FormatAmount(%d, %s) = %q, want %q", tt.amount, tt.currency, got, tt.want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 12345678: "12,345,678", -1234: "-1,234"} {
		if got := FormatQuantity(n); got != want {
			t.Errorf("FormatQuantity(%d) = %q, want %q", n, got, want)
		}
	}
}
