package memdrop

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/popadm/popadm/pop3d"
)

func TestToCRLF(t *testing.T) {
	tests := map[string]string{
		"":             "",
		"a":            "a\r\n",
		"a\n":          "a\r\n",
		"a\r\n":        "a\r\n",
		"a\nb\r\nc":    "a\r\nb\r\nc\r\n",
		"\n\n":         "\r\n\r\n",
		"lone\rcr\n":   "lone\rcr\r\n",
		"ends in cr\r": "ends in cr\r\r\n",
	}
	for in, want := range tests {
		if got := string(ToCRLF([]byte(in))); got != want {
			t.Errorf("ToCRLF(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoginLockAndCommit(t *testing.T) {
	ctx := context.Background()
	b := New()
	b.AddUser("u", "p")
	uid1 := b.AddMessage("u", []byte("one\n"))
	b.AddMessage("u", []byte("two\n"))
	if _, err := b.Login(ctx, nil, "u", "wrong"); !errors.Is(err, pop3d.ErrAuthFailed) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := b.Login(ctx, nil, "nobody", "p"); !errors.Is(err, pop3d.ErrAuthFailed) {
		t.Fatalf("unknown user: %v", err)
	}
	s, err := b.Login(ctx, nil, "u", "p")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Login(ctx, nil, "u", "p"); !errors.Is(err, pop3d.ErrInUse) {
		t.Fatalf("second login: %v", err)
	}
	msgs, err := s.Messages(ctx)
	if err != nil || len(msgs) != 2 || msgs[0].UID != uid1 || msgs[0].Size != 5 {
		t.Fatalf("Messages = %+v, %v", msgs, err)
	}
	r, err := s.Open(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(r)
	if string(data) != "one\r\n" || b.Stats("u").OpenReaders != 1 {
		t.Fatalf("Open = %q, stats %+v", data, b.Stats("u"))
	}
	r.Close()
	b.AddMessage("u", []byte("three\n")) // arrives during the session
	if err := s.Commit(ctx, []int{0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	left := b.Messages("u")
	if len(left) != 2 || string(left[0]) != "two\r\n" || string(left[1]) != "three\r\n" {
		t.Fatalf("left %q", left)
	}
	st := b.Stats("u")
	if st.Locked || st.Commits != 1 || st.Closes != 1 || st.OpenReaders != 0 || st.Logins != 1 {
		t.Fatalf("stats %+v", st)
	}
	// UIDs are never reused.
	if uid := b.AddMessage("u", []byte("four\n")); uid == uid1 {
		t.Fatal("UID reused")
	}
}

func TestLoginAPOP(t *testing.T) {
	b := New()
	b.AddUser("mrose", "tanstaaf")
	const ts = "<1896.697170952@dbc.mtview.ca.us>"
	sum := md5.Sum([]byte(ts + "tanstaaf"))
	if _, err := b.LoginAPOP(context.Background(), nil, "mrose", ts, "00"); !errors.Is(err, pop3d.ErrAuthFailed) {
		t.Fatalf("bad digest: %v", err)
	}
	s, err := b.LoginAPOP(context.Background(), nil, "mrose", ts, hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func TestNewSASLUnknown(t *testing.T) {
	if _, err := New().NewSASL(context.Background(), nil, "GSSAPI"); !errors.Is(err, pop3d.ErrMechUnavailable) {
		t.Fatalf("err = %v", err)
	}
}
