package engine

// Progress is told how far a long call has come: done units of total
// (tasks, for a pool's Map). Whatever takes one calls it from one goroutine
// at a time — with (0, total) when the call starts, then at most every few
// hundred milliseconds while done changes, and once when the call ends — so
// it may draw a bar or log a line, but must return quickly. It is the type
// the packages built on the team share for progress (package engine/pool's
// Progress option and ProgressBar).
type Progress func(done, total int)
