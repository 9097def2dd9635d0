//go:build !linux

package agent

// ReleaseStartupPages does nothing where the binary's pages are not known to the agent.
func ReleaseStartupPages() error { return nil }
