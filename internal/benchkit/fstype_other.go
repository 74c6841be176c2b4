//go:build !linux

package benchkit

func fsType(string) string { return "unknown" }

func residentBytes() (uint64, bool) { return 0, false }
