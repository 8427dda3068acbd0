package socketmap

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/popadm/popadm/authdb"
	"github.com/popadm/popadm/internal/backend"
)

// Store is the account lookup the maps need; *authdb.DB satisfies it.
type Store interface {
	GetDomain(ctx context.Context, name string) (*authdb.Domain, error)
	GetUser(ctx context.Context, username string) (*authdb.Account, error)
}

// Reply is one socketmap answer.
type Reply struct {
	// Status is "OK", "NOTFOUND", "TEMP" or "PERM".
	Status string
	// Data is the value for OK and the reason otherwise.
	Data string
}

// String renders the reply as it goes on the wire, inside the netstring.
func (r Reply) String() string { return r.Status + " " + r.Data }

func ok(data string) Reply     { return Reply{"OK", data} }
func notFound() Reply          { return Reply{"NOTFOUND", ""} }
func temp(reason string) Reply { return Reply{"TEMP", reason} }
func perm(reason string) Reply { return Reply{"PERM", reason} }
func isNotFound(err error) bool {
	return errors.Is(err, authdb.ErrNoSuchUser) || errors.Is(err, authdb.ErrNoSuchDomain) ||
		errors.Is(err, authdb.ErrInvalidName)
}

// splitLocation splits "maildir:PATH" or "mbox:PATH"; a bare path is a
// Maildir. kind is "" for an unknown prefix.
func splitLocation(l string) (kind, path string) {
	switch {
	case strings.HasPrefix(l, "maildir:"):
		return "maildir", strings.TrimPrefix(l, "maildir:")
	case strings.HasPrefix(l, "mbox:"):
		return "mbox", strings.TrimPrefix(l, "mbox:")
	case strings.HasPrefix(l, "/"), strings.HasPrefix(l, "."):
		return "maildir", l
	}
	return "", l
}

// TemplateBase returns the fixed leading directory of a mail location
// template: the directory part before the first %-variable, e.g.
// /var/vmail for maildir:/var/vmail/%d/%n. Postfix's virtual_mailbox_base
// must equal it.
func TemplateBase(location string) (string, error) {
	kind, tmpl := splitLocation(location)
	if kind == "" {
		return "", fmt.Errorf("socketmap: mail location %q: want maildir:PATH or mbox:PATH", location)
	}
	if !filepath.IsAbs(tmpl) {
		return "", fmt.Errorf("socketmap: mail location %q is not an absolute path", location)
	}
	fixed := tmpl
	if i := strings.IndexByte(tmpl, '%'); i >= 0 {
		fixed = tmpl[:i]
	}
	base := filepath.Clean(fixed[:strings.LastIndexByte(fixed, '/')+1])
	return base, nil
}

// lookup answers one request.
func (s *Server) lookup(ctx context.Context, name, key string) Reply {
	switch name {
	case "domain":
		return s.lookupDomain(ctx, key)
	case "mailbox":
		return s.lookupMailbox(ctx, key)
	}
	return perm("unknown map " + quote(name))
}

func (s *Server) lookupDomain(ctx context.Context, key string) Reply {
	d, err := s.opts.Store.GetDomain(ctx, key)
	switch {
	case isNotFound(err):
		return notFound()
	case err != nil:
		s.log.Error("socketmap domain lookup", "key", key, "err", err)
		return temp("database lookup failed")
	case d.Disabled:
		return notFound()
	}
	return ok(d.Name)
}

func (s *Server) lookupMailbox(ctx context.Context, key string) Reply {
	at := strings.LastIndexByte(key, '@')
	if at <= 0 || at == len(key)-1 {
		// Only full addresses: a bare name would otherwise get the
		// default domain, and "@domain" is a catch-all query.
		return notFound()
	}
	acct, err := s.opts.Store.GetUser(ctx, key)
	switch {
	case isNotFound(err):
		return notFound()
	case err != nil:
		s.log.Error("socketmap mailbox lookup", "key", key, "err", err)
		return temp("database lookup failed")
	case acct.Disabled || acct.DomainDisabled || acct.Domain == "":
		return notFound()
	}
	rel, err := s.relPath(acct)
	if err != nil {
		s.log.Error("socketmap mailbox lookup", "user", acct.Name, "err", err)
		return temp("mail location outside virtual_mailbox_base")
	}
	return ok(rel)
}

// relPath returns the account's mail location relative to the base, with
// a trailing slash for a Maildir.
func (s *Server) relPath(acct *authdb.Account) (string, error) {
	var kind, path string
	if acct.Maildrop != "" {
		kind, path = splitLocation(acct.Maildrop)
		if kind == "" {
			kind, path = "maildir", acct.Maildrop
		}
	} else {
		var tmpl string
		kind, tmpl = splitLocation(s.opts.MailLocation)
		var err error
		path, err = backend.ExpandLocation(tmpl, acct.Name, acct.Local, acct.Domain)
		if err != nil {
			return "", fmt.Errorf("socketmap: %w", err)
		}
	}
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("socketmap: mail location %q is not absolute", path)
	}
	rel, err := filepath.Rel(s.base, filepath.Clean(path))
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("socketmap: mail location %q is not under %s", path, s.base)
	}
	if kind == "maildir" {
		rel += "/"
	}
	return rel, nil
}

// quote shortens and quotes a client-supplied string for a reply.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return fmt.Sprintf("%q", s)
}
