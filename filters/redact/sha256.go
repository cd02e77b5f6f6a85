package main

import "math/bits"

// SHA-256 (FIPS 180-4), here rather than crypto/sha256 because that
// package imports crypto/internal/sysrand and with it os, whose wasip1
// initialisation makes the module import WASI file functions the gateway
// refuses. hash_test.go checks it against crypto/sha256.

var sha256K = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

// sha256 hashes the concatenation of the parts (salt, then value) without
// allocating.
type sha256 struct {
	h   [8]uint32
	buf [64]byte
	n   int    // bytes in buf
	len uint64 // bytes written
}

func (d *sha256) reset() {
	d.h = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}
	d.n, d.len = 0, 0
}

// hashWrite adds s to the hash; generic so that neither strings nor the
// request's byte slices are copied to be hashed.
func hashWrite[T string | []byte](d *sha256, s T) {
	d.len += uint64(len(s))
	if d.n > 0 {
		c := copy(d.buf[d.n:], s)
		d.n += c
		s = s[c:]
		if d.n < 64 {
			return
		}
		d.block(d.buf[:])
		d.n = 0
	}
	for len(s) >= 64 {
		copy(d.buf[:], s[:64])
		d.block(d.buf[:])
		s = s[64:]
	}
	d.n = copy(d.buf[:], s)
}

// sum finishes the hash into out.
func (d *sha256) sum(out *[32]byte) {
	bitLen := d.len << 3
	d.buf[d.n] = 0x80
	d.n++
	if d.n > 56 {
		clear(d.buf[d.n:])
		d.block(d.buf[:])
		d.n = 0
	}
	clear(d.buf[d.n:56])
	for i := range 8 {
		d.buf[56+i] = byte(bitLen >> (56 - 8*i))
	}
	d.block(d.buf[:])
	for i, v := range d.h {
		out[4*i], out[4*i+1], out[4*i+2], out[4*i+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
}

func (d *sha256) block(p []byte) {
	var w [64]uint32
	for i := range 16 {
		j := 4 * i
		w[i] = uint32(p[j])<<24 | uint32(p[j+1])<<16 | uint32(p[j+2])<<8 | uint32(p[j+3])
	}
	for i := 16; i < 64; i++ {
		v1, v2 := w[i-2], w[i-15]
		s1 := bits.RotateLeft32(v1, -17) ^ bits.RotateLeft32(v1, -19) ^ v1>>10
		s0 := bits.RotateLeft32(v2, -7) ^ bits.RotateLeft32(v2, -18) ^ v2>>3
		w[i] = s1 + w[i-7] + s0 + w[i-16]
	}
	a, b, c, dd, e, f, g, h := d.h[0], d.h[1], d.h[2], d.h[3], d.h[4], d.h[5], d.h[6], d.h[7]
	for i := range 64 {
		t1 := h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + (e&f ^ ^e&g) + sha256K[i] + w[i]
		t2 := (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + (a&b ^ a&c ^ b&c)
		h, g, f, e, dd, c, b, a = g, f, e, dd+t1, c, b, a, t1+t2
	}
	d.h[0] += a
	d.h[1] += b
	d.h[2] += c
	d.h[3] += dd
	d.h[4] += e
	d.h[5] += f
	d.h[6] += g
	d.h[7] += h
}
