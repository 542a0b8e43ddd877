package queue

// SetTestHook sets the function called at the named points of Put and Get
// ("put:copying", "put:published", "get:copied", "get:committed"), so that
// a test child can stop there and be killed.
func SetTestHook(f func(point string)) { testHook = f }

// NotEmptyWord and NotFullWord return the futex words a Get waiting for a
// message and a Put waiting for room sleep on, so that a test can wait until
// a waiter is asleep.
func NotEmptyWord(q *Queue) *uint32 { return word(&q.r.c.neWord) }
func NotFullWord(q *Queue) *uint32  { return word(&q.r.c.nfWord) }
