package shmap

import "math/bits"

// The hash of a key is computed from its words (the key's bytes in 8-byte
// little-endian words, zero padded; a string key's first word is its
// length) and the map's seed, so every process computes the same hash. Each
// word is folded in with a 64×64→128-bit multiply whose halves are xored,
// as wyhash does; the result only needs to spread keys over buckets, not to
// resist an attacker who knows the seed.
const (
	hashK0 = 0xa0761d6478bd642f
	hashK1 = 0xe7037ed1a0b428db
	hashK2 = 0x8ebc6af09c88c6e3
)

func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hashWords hashes the key words kw with seed.
func hashWords(seed uint64, kw []uint64) uint64 {
	h := seed ^ hashK0
	for _, w := range kw {
		h = mum(h^w, hashK1)
	}
	return mum(h^uint64(len(kw)), hashK2)
}

// bucketOf maps a hash to one of n buckets without a division (the high
// half of h*n, Lemire's multiply-shift), so n need not be a power of two.
func bucketOf(h uint64, n uint64) uint64 {
	hi, _ := bits.Mul64(h, n)
	return hi
}
