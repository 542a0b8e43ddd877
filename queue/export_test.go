package queue

// SetTestHook sets the function called at the named points of Put and Get
// ("put:copying", "put:published", "get:copied", "get:committed"), so that
// a test child can stop there and be killed.
func SetTestHook(f func(point string)) { testHook = f }
