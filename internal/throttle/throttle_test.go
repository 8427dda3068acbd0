package throttle

import (
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTest(opts Options) (*Limiter, *clock) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts.Now = c.now
	return New(opts), c
}

func TestDelayGrowsAndCaps(t *testing.T) {
	l, _ := newTest(Options{BaseDelay: time.Second, MaxDelay: 5 * time.Second, IPLimit: -1})
	want := []time.Duration{1, 2, 4, 5, 5}
	for i, w := range want {
		d, counted := l.Failure("192.0.2.1:1000", "alice@example.com", "guess"+string(rune('a'+i)))
		if !counted {
			t.Fatalf("attempt %d: distinct password not counted", i)
		}
		if d != w*time.Second {
			t.Fatalf("attempt %d: delay %v, want %v", i, d, w*time.Second)
		}
	}
}

func TestSameWrongPasswordCountsOnce(t *testing.T) {
	l, _ := newTest(Options{BaseDelay: time.Second, MaxDelay: time.Minute, IPLimit: -1})
	_, c1 := l.Failure("192.0.2.1:1", "bob@example.com", "oldpass")
	_, c2 := l.Failure("192.0.2.2:1", "bob@example.com", "oldpass")
	_, c3 := l.Failure("192.0.2.3:1", "bob@example.com", "other")
	if !c1 || c2 || !c3 {
		t.Fatalf("counted = %v %v %v, want true false true", c1, c2, c3)
	}
	// The repeat is per account: the same password for another user counts.
	if _, c := l.Failure("192.0.2.1:1", "carol@example.com", "oldpass"); !c {
		t.Fatal("same password for another account was not counted")
	}
}

func TestUnknownAndKnownUsersSameDelay(t *testing.T) {
	// The limiter never learns whether a user exists, so two fresh names
	// from fresh addresses get the same delay.
	l, _ := newTest(Options{BaseDelay: 3 * time.Second})
	d1, _ := l.Failure("198.51.100.1:5", "exists@example.com", "x")
	d2, _ := l.Failure("198.51.100.2:5", "nobody@example.com", "x")
	if d1 != d2 {
		t.Fatalf("delays differ: %v vs %v", d1, d2)
	}
}

func TestIPLimitAndWindow(t *testing.T) {
	l, c := newTest(Options{BaseDelay: time.Millisecond, IPLimit: 3, Window: time.Minute})
	for i := range 3 {
		if ok, _ := l.Check("203.0.113.9:4000"); !ok {
			t.Fatalf("refused before limit at attempt %d", i)
		}
		l.Failure("203.0.113.9:4000", "u"+string(rune('0'+i)), "p")
	}
	ok, retry := l.Check("203.0.113.9:5000")
	if ok || retry <= 0 || retry > time.Minute {
		t.Fatalf("Check after limit = %v, %v; want refused with retry in (0, 1m]", ok, retry)
	}
	if ok, _ := l.Check("203.0.113.10:5000"); !ok {
		t.Fatal("another address was refused")
	}
	c.t = c.t.Add(time.Minute + time.Second)
	if ok, _ := l.Check("203.0.113.9:5000"); !ok {
		t.Fatal("address still refused after the window")
	}
}

func TestIPv6Prefix(t *testing.T) {
	l, _ := newTest(Options{BaseDelay: time.Millisecond, IPLimit: 2})
	l.Failure("[2001:db8:1:2::1]:110", "a", "p")
	l.Failure("[2001:db8:1:2:ffff::9]:110", "b", "p")
	if ok, _ := l.Check("[2001:db8:1:2::77]:110"); ok {
		t.Fatal("same /64 not refused")
	}
	if ok, _ := l.Check("[2001:db8:1:3::1]:110"); !ok {
		t.Fatal("other /64 refused")
	}
}

func TestSuccessClearsUser(t *testing.T) {
	l, _ := newTest(Options{BaseDelay: time.Second, MaxDelay: time.Minute, IPLimit: -1})
	l.Failure("192.0.2.1:1", "dave", "a")
	l.Failure("192.0.2.2:1", "dave", "b")
	l.Success("dave")
	if d, _ := l.Failure("192.0.2.3:1", "dave", "c"); d != time.Second {
		t.Fatalf("delay after success = %v, want base", d)
	}
}

func TestBoundedEntries(t *testing.T) {
	l, _ := newTest(Options{BaseDelay: time.Millisecond, MaxEntries: 50, IPLimit: -1})
	for i := range 1000 {
		l.Failure("192.0.2.1:1", "user"+string(rune(i)), "p")
	}
	l.mu.Lock()
	n := len(l.entries)
	l.mu.Unlock()
	if n > 50 {
		t.Fatalf("%d entries tracked, limit 50", n)
	}
}
