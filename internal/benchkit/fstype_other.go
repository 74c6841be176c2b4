//go:build !linux

package benchkit

func fsType(string) string { return "unknown" }
