//go:build !cgo

package authdb

// Without cgo the SQLite driver is a stub that fails every open, so these
// never see a real SQLite error.

func isBusy(error) bool        { return false }
func isReadOnlyErr(error) bool { return false }
