package engine

// Phases of a job that a shmpartrace build records (trace_on.go).
const (
	traceRun     = iota // coordinator: procTeam.run entered
	tracePosted         // coordinator: the generation word is bumped
	traceOwnDone        // coordinator: its own chunks are done (Primary)
	traceSawDone        // coordinator: wait saw the job end
	traceSawGen         // worker: saw the new generation
	traceClaimed        // worker: claimed its first chunk
	traceLeft           // worker: left the job
	traceN
)
