//go:build race

package queue_test

// perProducer is the number of messages each producer puts in the 4×4
// test. The race detector makes every atomic operation several times
// slower, in the children too, so the test moves a quarter of the messages.
const perProducer = 25_000
