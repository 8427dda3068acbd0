//go:build !pam

package pamauth

import (
	"context"
	"errors"
	"testing"

	"github.com/popadm/popadm/authdb"
)

func TestStubUnavailable(t *testing.T) {
	a, err := New(Options{})
	if a != nil || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("New = %v, %v; want nil, ErrUnavailable", a, err)
	}
	var zero Auth
	ctx := context.Background()
	if _, err := zero.Authenticate(ctx, authdb.Request{}, "alice", "secret"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Authenticate: %v", err)
	}
	if err := zero.ChangePassword(ctx, authdb.Request{}, "alice", "old", "new"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("ChangePassword: %v", err)
	}
	if want := "pamauth: built without PAM support (rebuild with -tags pam: make build-pam)"; err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
}
