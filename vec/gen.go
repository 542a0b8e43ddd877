package vec

// The assembly and its stubs are generated with avo by internal/asmgen, a
// module of its own (so avo is not a dependency of shmpar). CI runs this and
// fails if the files differ from the committed ones.
//
//go:generate go run -C internal/asmgen . -out ../../vec_amd64.s -stubs ../../stubs_amd64.go -pkg vec
