package pop3d

import "errors"

// command describes one POP3 command for the dispatcher, which checks
// state and arity once so that handlers can assume valid input.
type command struct {
	// states in which the command is valid.
	states state
	// minArgs and maxArgs bound the number of space-separated arguments.
	minArgs, maxArgs int
	// restOfLine passes everything after the keyword as one argument:
	// RFC 1939 §7 lets a PASS argument contain spaces.
	restOfLine bool
	// saslLine allows the command line up to MaxSASLLine octets (RFC 5034
	// §4); every other command is held to MaxLine.
	saslLine bool
	// handle writes the +OK response itself and returns nil, or returns
	// an error for the dispatcher to send, having written nothing.
	handle func(ss *session, args []string) error
}

const (
	stateAny = stateAuthorization | stateTransaction
)

// commands is the POP3 command table: RFC 1939 (USER, PASS, APOP, QUIT,
// STAT, LIST, RETR, DELE, NOOP, RSET, TOP, UIDL), RFC 2449 (CAPA), RFC 2595
// (STLS), RFC 5034 (AUTH) and RFC 6856 (UTF8). It is never modified.
var commands = map[string]command{
	"USER": {states: stateAuthorization, minArgs: 1, maxArgs: 1, restOfLine: true, handle: (*session).handleUSER},
	"PASS": {states: stateAuthorization, minArgs: 1, maxArgs: 1, restOfLine: true, handle: (*session).handlePASS},
	"APOP": {states: stateAuthorization, minArgs: 2, maxArgs: 2, handle: (*session).handleAPOP},
	"AUTH": {states: stateAuthorization, minArgs: 0, maxArgs: 2, saslLine: true, handle: (*session).handleAUTH},
	"STLS": {states: stateAuthorization, handle: (*session).handleSTLS},
	"UTF8": {states: stateAuthorization, handle: (*session).handleUTF8},
	"CAPA": {states: stateAny, handle: (*session).handleCAPA},
	"QUIT": {states: stateAny, handle: (*session).handleQUIT},
	"STAT": {states: stateTransaction, handle: (*session).handleSTAT},
	"LIST": {states: stateTransaction, maxArgs: 1, handle: (*session).handleLIST},
	"RETR": {states: stateTransaction, minArgs: 1, maxArgs: 1, handle: (*session).handleRETR},
	"DELE": {states: stateTransaction, minArgs: 1, maxArgs: 1, handle: (*session).handleDELE},
	"NOOP": {states: stateTransaction, handle: (*session).handleNOOP},
	"RSET": {states: stateTransaction, handle: (*session).handleRSET},
	"TOP":  {states: stateTransaction, minArgs: 2, maxArgs: 2, handle: (*session).handleTOP},
	"UIDL": {states: stateTransaction, maxArgs: 1, handle: (*session).handleUIDL},
}

// dispatch parses and runs one command line. It returns nil when the
// handler replied, or the error to send.
func (ss *session) dispatch(line []byte) error {
	// PASS is only valid right after a successful USER (RFC 1939 §7).
	userSeen := ss.userSeen
	ss.userSeen = false

	cl, err := parseCommand(line)
	cmd, known := commands[cl.Name]
	if len(line) > ss.srv.opts.MaxLine-2 && !(err == nil && known && cmd.saslLine && ss.state == stateAuthorization) {
		// In AUTHORIZATION lines are read with the larger SASL limit;
		// anything but AUTH is held to MaxLine, CRLF included.
		return errLineTooLong
	}
	if err != nil {
		if errors.Is(err, errBadKeyword) {
			return errUnknownCommand
		}
		return errSyntax
	}
	if !known {
		return errUnknownCommand
	}
	ss.log.Debug("command", "cmd", cl.Name, "state", ss.state.String())
	if o := ss.srv.opts.Observer; o != nil {
		o.Command(cl.Name)
	}
	if cmd.states&ss.state == 0 {
		return errWrongState
	}
	var args []string
	var ok bool
	if cmd.restOfLine {
		if cl.Rest != "" {
			args = []string{cl.Rest}
		}
	} else {
		args, ok = splitArgs(cl.Rest)
		if !ok {
			return errSyntax
		}
	}
	if len(args) < cmd.minArgs || len(args) > cmd.maxArgs {
		return errArgs
	}
	if cl.Name == "PASS" && !userSeen {
		return errNoUser
	}
	return cmd.handle(ss, args)
}
