package pwscheme

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/go-crypt/crypt/algorithm/shacrypt"
)

// TestSHACryptMatchesGoCrypt compares the allocation-free SHA-crypt with
// go-crypt's for passwords of every length around the digest sizes, salts
// of every length and several round counts, in both directions.
func TestSHACryptMatchesGoCrypt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pw := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(255) + 1)
		}
		return string(b)
	}
	lengths := []int{0, 1, 2, 7, 31, 32, 33, 63, 64, 65, 100, 130, 200}
	for _, variant := range []shacrypt.Variant{shacrypt.VariantSHA256, shacrypt.VariantSHA512} {
		is512 := variant == shacrypt.VariantSHA512
		for _, n := range lengths {
			for _, saltLen := range []int{1, 8, 16} {
				for _, rounds := range []int{1000, 5000, 5001} {
					p := pw(n)
					if n == 0 {
						p = ""
					}
					salt, _ := randomSaltText(saltLen)
					ours := shaCryptString(is512, p, salt, rounds)
					h, err := shacrypt.New(shacrypt.WithVariant(variant), shacrypt.WithIterations(rounds), shacrypt.WithSaltLength(saltLen))
					if err != nil {
						t.Fatal(err)
					}
					ref, err := h.HashWithSalt(p, []byte(salt))
					if err != nil {
						t.Fatal(err)
					}
					if want := ref.Encode(); ours != want {
						t.Fatalf("variant %v len %d salt %d rounds %d:\n ours %s\n want %s", variant, n, saltLen, rounds, ours, want)
					}
				}
			}
		}
	}
}

func TestSHACryptVectorsAndRounds(t *testing.T) {
	// glibc test vectors, checked with glibc crypt(3) here.
	for _, tc := range []struct{ pw, stored string }{
		{"Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{"Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
		{"Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
		{"Hello world!", "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"},
		{"we have a short salt string but not a short password", "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"},
	} {
		ok, err := Verify("{CRYPT}"+tc.stored, tc.pw, "")
		if err != nil || !ok {
			t.Errorf("%s: ok=%v err=%v", tc.stored, ok, err)
		}
		if ok, _ := Verify("{CRYPT}"+tc.stored, tc.pw+"x", ""); ok {
			t.Errorf("%s: wrong password accepted", tc.stored)
		}
	}
	g, err := Generate("SHA512-CRYPT", "pw", Params{Rounds: 6000})
	if err != nil || !strings.HasPrefix(g, "{SHA512-CRYPT}$6$rounds=6000$") {
		t.Fatalf("Generate with rounds: %q, %v", g, err)
	}
}

func BenchmarkSHACrypt(b *testing.B) {
	for _, is512 := range []bool{false, true} {
		b.Run(fmt.Sprintf("ours-512=%v", is512), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				shaCrypt(is512, []byte("Tr0ub4dor&3"), []byte("gm3.UboKmtI9Val6"), 5000)
			}
		})
	}
	h, _ := shacrypt.New(shacrypt.WithVariant(shacrypt.VariantSHA512), shacrypt.WithIterations(5000))
	b.Run("go-crypt-512", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.HashWithSalt("Tr0ub4dor&3", []byte("gm3.UboKmtI9Val6"))
		}
	})
}
