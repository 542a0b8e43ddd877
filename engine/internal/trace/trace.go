package trace

// Phases of a job that a shmpartrace build records (on.go).
const (
	Run     = iota // coordinator: procTeam.run entered
	Posted         // coordinator: the generation word is bumped
	OwnDone        // coordinator: its own chunks are done (Primary)
	SawDone        // coordinator: wait saw the job end
	SawGen         // worker: saw the new generation
	Claimed        // worker: claimed its first chunk
	Left           // worker: left the job
	N
)
