package queue_test

import "context"

func benchChild(ctx context.Context, role string) error { return nil }
