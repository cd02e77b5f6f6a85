package main

import (
	stdsha "crypto/sha256"
	"strings"
	"testing"
)

func TestSHA256AgreesWithCryptoSHA256(t *testing.T) {
	var d sha256
	for n := range 300 { // every padding case, several blocks
		for _, split := range []int{0, n / 3, n} {
			in := strings.Repeat("abcdefghij", 30)[:n]
			d.reset()
			hashWrite(&d, in[:split])
			hashWrite(&d, []byte(in[split:]))
			var got [32]byte
			d.sum(&got)
			if want := stdsha.Sum256([]byte(in)); got != want {
				t.Fatalf("%d bytes split at %d: %x, want %x", n, split, got, want)
			}
		}
	}
}

func FuzzSHA256(f *testing.F) {
	f.Add("salt", []byte("value"))
	f.Fuzz(func(t *testing.T, salt string, v []byte) {
		var d sha256
		d.reset()
		hashWrite(&d, salt)
		hashWrite(&d, v)
		var got [32]byte
		d.sum(&got)
		if want := stdsha.Sum256(append([]byte(salt), v...)); got != want {
			t.Fatalf("%q+%q: %x, want %x", salt, v, got, want)
		}
	})
}
