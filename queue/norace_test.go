//go:build !race

package queue_test

// perProducer is the number of messages each producer puts in the 4×4 test.
const perProducer = 100_000
