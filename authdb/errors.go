package authdb

import "fmt"

// markedError has its own message and matches a sentinel with errors.Is,
// so a message can read naturally without repeating the sentinel's text.
type markedError struct {
	msg  string
	mark error
}

func (e *markedError) Error() string { return e.msg }
func (e *markedError) Unwrap() error { return e.mark }

// mark returns an error with the formatted message (starting "authdb: ")
// that matches sentinel.
func mark(sentinel error, format string, a ...any) error {
	return &markedError{msg: fmt.Sprintf(format, a...), mark: sentinel}
}
