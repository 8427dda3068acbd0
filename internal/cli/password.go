package cli

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/popadm/popadm/internal/importfmt"
	"github.com/popadm/popadm/internal/pwscheme"
)

// Password input rules, shared by every command that takes a new password:
//
//   - --password-stdin reads one line from standard input;
//   - --password-file F reads the first line of F;
//   - --random[=LEN] generates LEN (default 20) characters with crypto/rand
//     and prints them once;
//   - --hash '{SCHEME}value' stores a ready hash (validated; "-" reads it
//     from standard input);
//   - otherwise a no-echo prompt with confirmation when standard input is
//     a terminal, else one line of standard input.
//
// A line ends at LF; one trailing "\n" or "\r\n" is removed and nothing
// else, so spaces are part of the password. End of input without a
// newline is accepted. There is no flag that takes a password on argv.

const (
	defaultRandomLen = 20
	minRandomLen     = 8
	maxRandomLen     = 256
	// maxSecretLine bounds a password or hash line read from input.
	maxSecretLine = 64 << 10
	// randomAlphabet has no characters that need shell quoting.
	randomAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// pwFlags holds the password-input flags of one command.
type pwFlags struct {
	stdin  bool
	file   string
	random int
	hash   string
}

// pwKinds selects which password-input flags a command offers.
type pwKinds struct {
	random bool
	hash   bool
}

// addPasswordFlags registers the password-input flags on fs.
func addPasswordFlags(fs *pflag.FlagSet, p *pwFlags, k pwKinds) {
	fs.BoolVar(&p.stdin, "password-stdin", false, "read the password from one line of standard input")
	fs.StringVar(&p.file, "password-file", "", "read the password from the first line of `file`")
	if k.random {
		fs.IntVar(&p.random, "random", 0, "generate a random password of `len` characters (default 20) and print it once")
		fs.Lookup("random").NoOptDefVal = fmt.Sprint(defaultRandomLen)
	}
	if k.hash {
		fs.StringVar(&p.hash, "hash", "", "store this `{SCHEME}value` hash instead of a password (\"-\": read it from standard input)")
	}
}

// secret is a password input after reading: exactly one of password and
// hash is set; generated marks a --random password, to be printed.
type secret struct {
	password  string
	hash      string
	generated bool
}

// check validates flag combinations without reading anything.
func (p *pwFlags) check() error {
	n := 0
	var names []string
	for _, s := range []struct {
		set  bool
		name string
	}{
		{p.stdin, "--password-stdin"}, {p.file != "", "--password-file"},
		{p.random != 0, "--random"}, {p.hash != "", "--hash"},
	} {
		if s.set {
			n++
			names = append(names, s.name)
		}
	}
	if n > 1 {
		return usageErrorf("%s cannot be combined", strings.Join(names, " and "))
	}
	if p.random != 0 && (p.random < minRandomLen || p.random > maxRandomLen) {
		return usageErrorf("--random length must be between %d and %d", minRandomLen, maxRandomLen)
	}
	return nil
}

// readNew reads a new password (or hash) following the input rules. With
// confirm, a terminal prompt asks twice.
func (f *factory) readNew(p *pwFlags, confirm bool) (secret, error) {
	if err := p.check(); err != nil {
		return secret{}, err
	}
	switch {
	case p.random != 0:
		pw, err := randomPassword(p.random)
		return secret{password: pw, generated: true}, err
	case p.hash != "":
		h := p.hash
		fromStdin := h == "-"
		if fromStdin {
			line, err := f.readStdinLine("hash")
			if err != nil {
				return secret{}, err
			}
			h = line
		}
		h, err := checkHash(h, !fromStdin)
		return secret{hash: h}, err
	}
	pw, err := f.readPassword(p, confirm, "New password: ")
	return secret{password: pw}, err
}

// readPassword reads a password from --password-stdin, --password-file,
// the terminal prompt or a plain standard-input line.
func (f *factory) readPassword(p *pwFlags, confirm bool, prompt string) (string, error) {
	var pw string
	var err error
	switch {
	case p.stdin:
		pw, err = f.readStdinLine("password")
	case p.file != "":
		pw, err = readFileLine(p.file)
	case f.stdinIsTerminal():
		pw, err = f.readSecret(prompt)
		if err == nil && confirm {
			var again string
			again, err = f.readSecret("Retype " + strings.ToLower(prompt[:1]) + prompt[1:])
			if err == nil && again != pw {
				return "", failf(ExitDataErr, "passwords do not match", "passwords do not match")
			}
		}
	default:
		pw, err = f.readStdinLine("password")
	}
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", failf(ExitDataErr, "empty password", "empty password")
	}
	return pw, nil
}

// readStdinLine reads one line of standard input for what ("password").
func (f *factory) readStdinLine(what string) (string, error) {
	line, err := readLine(f.stdinReader())
	if errors.Is(err, io.EOF) {
		return "", failf(ExitDataErr, "no "+what+" on standard input", "no %s on standard input", what)
	}
	if err != nil {
		return "", failf(ExitDataErr, what+" line unreadable", "read %s from standard input: %v", what, err)
	}
	return line, nil
}

// readFileLine reads the first line of a password file.
func readFileLine(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", inputFileError(path, err)
	}
	defer fh.Close()
	line, err := readLine(bufio.NewReader(fh))
	if errors.Is(err, io.EOF) {
		return "", failf(ExitDataErr, "empty password file", "password file %s is empty", path)
	}
	if err != nil {
		return "", inputFileError(path, err)
	}
	return line, nil
}

// inputFileError maps an unreadable input file to exit 66.
func inputFileError(path string, err error) error {
	short := "cannot read input file"
	if errors.Is(err, fs.ErrNotExist) {
		short = "no such input file"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &exitError{code: ExitNoInput, short: short, fields: map[string]any{"file": path},
		err: fmt.Errorf("cannot read %s: %w", path, err)}
}

// readLine reads one line. It strips one trailing "\n" or "\r\n" and
// nothing else, accepts end of input without a newline, and returns io.EOF
// only when nothing at all was read.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > maxSecretLine {
			return "", errors.New("line too long")
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF {
			if len(b) == 0 {
				return "", io.EOF
			}
			return string(b), nil
		}
		if err != nil {
			return "", err
		}
		s := strings.TrimSuffix(string(b), "\n")
		s = strings.TrimSuffix(s, "\r")
		return s, nil
	}
}

// randomPassword returns n characters of randomAlphabet from crypto/rand,
// without modulo bias.
func randomPassword(n int) (string, error) {
	const limit = 256 - 256%len(randomAlphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("cli: random password: %w", err)
		}
		for _, c := range buf {
			if int(c) < limit && len(out) < n {
				out = append(out, randomAlphabet[int(c)%len(randomAlphabet)])
			}
		}
	}
	return string(out), nil
}

// checkHash normalises a bare crypt string to "{SCHEME}value" and
// validates the hash with the scheme registry. onArgv refuses cleartext
// schemes, which would put a password on the command line.
func checkHash(h string, onArgv bool) (string, error) {
	n, err := importfmt.NormalizeHash(h)
	if err != nil {
		return "", &exitError{code: ExitDataErr, short: "invalid password hash", err: fmt.Errorf("--hash: %w", err)}
	}
	if onArgv {
		if info, ok := pwscheme.Lookup(importfmt.SchemeOf(n)); ok && (info.Name == "PLAIN" || info.Name == "PLAIN-TRUNC") {
			return "", usageErrorf("--hash {%s} would put a password on the command line; use --hash - or --password-stdin", importfmt.SchemeOf(n))
		}
	}
	if err := pwscheme.Validate(n); err != nil {
		return "", &exitError{code: ExitDataErr, short: "invalid password hash", fields: map[string]any{"scheme": importfmt.SchemeOf(n)},
			err: fmt.Errorf("--hash: %w", err)}
	}
	return n, nil
}
