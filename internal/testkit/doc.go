// Package testkit holds the test support shared by the protocol and
// end-to-end tests: a self-signed TLS pair, a buffer safe for concurrent
// writers, a line client for POP3 and poppassd conversations, and the
// locator, runner and server starter of the popadm binary.
//
// Only _test.go files import it; scripts/importcheck.sh fails when a
// non-test package does.
package testkit
