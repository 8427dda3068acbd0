// Package pwscheme reads, verifies and writes Dovecot-style password
// values ("{SCHEME}value", optionally "{SCHEME.HEX}" or "{SCHEME.B64}"),
// byte-compatible with doveadm pw, so that a Dovecot passdb can be imported
// as it is and what popadm writes can be moved back to Dovecot.
//
// # Formats
//
//	PLAIN (CLEAR, CLEARTEXT)    cleartext
//	PLAIN-TRUNC                 <length>-<cleartext>
//	CRYPT                       crypt(3) string chosen by prefix: $2a$/$2b$/$2y$ bcrypt,
//	                            $1$ MD5-crypt, $5$/$6$ SHA-crypt, $y$ yescrypt,
//	                            $argon2i$/$argon2id$; 13-char DES is not supported
//	MD5-CRYPT (MD5)             $1$salt$hash
//	SHA256-CRYPT, SHA512-CRYPT  $5$/$6$[rounds=N$]salt$hash (5000 rounds unless written)
//	BLF-CRYPT                   $2y$NN$salt+hash (bcrypt; popadm writes $2a$, cost 10)
//	ARGON2I, ARGON2ID           $argon2id$v=19$m=65536,t=3,p=1$salt$hash (raw base64)
//	PBKDF2                      $1$<salt text>$<rounds>$<hex>, HMAC-SHA1, 20 bytes
//	SHA (SHA1), SHA256, SHA512  base64(digest)
//	SSHA, SSHA256, SSHA512, SMD5  base64(digest ‖ salt)
//	PLAIN-MD5, LDAP-MD5         MD5 digest, hex or base64 chosen by length
//	PLAIN-MD4                   hex MD4 digest
//	CRAM-MD5 (HMAC-MD5)         hex HMAC-MD5 outer and inner MD5 states (32 bytes)
//	DIGEST-MD5                  hex MD5(user:realm:password)
//	SCRAM-SHA-1, SCRAM-SHA-256  iter,base64(salt),base64(StoredKey),base64(ServerKey)
//	DES-CRYPT, OTP              known but not supported
//
// For schemes with a fixed digest length the encoding is guessed as Dovecot
// does: twice the digest length means hex, anything else base64.
//
// # Plaintext-equivalent values
//
// PLAIN, PLAIN-TRUNC, CRAM-MD5 and DIGEST-MD5 are plaintext-equivalent: a
// stolen value logs in (directly, through AUTH CRAM-MD5 or DIGEST-MD5)
// without cracking anything. They are stored only for users who need APOP
// (PLAIN) or CRAM-MD5. Unsalted fast hashes (SHA, SHA256, SHA512,
// PLAIN-MD5, LDAP-MD5, PLAIN-MD4), salted single-hash schemes (SSHA*,
// SMD5) and MD5-crypt are reported as weak by Schemes. SCRAM verifiers are
// not plaintext-equivalent: a stolen StoredKey alone does not log in.
//
// # Mechanisms
//
// Every verifiable value serves the plaintext mechanisms (USER/PASS, AUTH
// PLAIN, AUTH LOGIN). APOP needs the cleartext (PlainSecret, APOPDigest),
// CRAM-MD5 the cleartext or a CRAM-MD5 context (CRAMMD5Digest), SCRAM the
// cleartext or a verifier of the same hash (ParseSCRAM, DeriveSCRAM).
//
// # SASLprep
//
// Dovecot derives CRAM-MD5, DIGEST-MD5 and SCRAM values from the raw
// password bytes. popadm writes CRAM-MD5, DIGEST-MD5 and PLAIN from the raw
// bytes too, but SCRAM verifiers from the SASLprep'd password (RFC 5802),
// which is what RFC clients send. A Dovecot SCRAM verifier of a password
// that changes under SASLprep (for example fullwidth "Ｐａｓｓ１", which
// becomes "Pass1") does not work with RFC clients; Verify still accepts
// such a password for USER/PASS because it tries both the SASLprep'd and
// the raw form.
//
// # Costs
//
// Generate defaults: ARGON2ID/ARGON2I m=65536 KiB, t=3, p=1; BLF-CRYPT
// cost 10 (doveadm: 5); SHA*-CRYPT and PBKDF2 5000 rounds; SCRAM 4096
// iterations. NeedsRehash tells when a verified value is weaker than that.
package pwscheme
