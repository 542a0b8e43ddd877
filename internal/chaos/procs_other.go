//go:build !linux

package chaos

// marked finds nothing where there is no /proc.
func marked(marker string) []int { return nil }
