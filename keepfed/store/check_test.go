package store

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keepfed/keepfed/signing"
	bolt "go.etcd.io/bbolt"
)

func TestCheckFindsDamage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(tx *bolt.Tx, c, tok, l Record) error
		want   string
	}{
		{"missing pdh entry", func(tx *bolt.Tx, c, _, _ Record) error {
			return tx.Bucket(idxCollectionPDH).Delete([]byte(c.StringAttr("portable_data_hash") + "\x00" + c.UUID()))
		}, "missing entry"},
		{"stray token entry", func(tx *bolt.Tx, _, _, _ Record) error {
			k := signing.CacheKey("not a secret of any token")
			return tx.Bucket(idxTokenSecret).Put(k[:], []byte("zzzzz-gj3su-000000000000001"))
		}, "stray entry"},
		{"token entry pointing elsewhere", func(tx *bolt.Tx, _, tok, _ Record) error {
			k := signing.CacheKey(tok.StringAttr("api_token"))
			return tx.Bucket(idxTokenSecret).Put(k[:], []byte("zzzzz-gj3su-000000000000001"))
		}, "want"},
		{"missing link entry", func(tx *bolt.Tx, _, _, l Record) error {
			return tx.Bucket(idxLinkTail).Delete([]byte(l.StringAttr("tail_uuid") + "\x00" + l.UUID()))
		}, "missing entry"},
		{"record under wrong key", func(tx *bolt.Tx, c, _, _ Record) error {
			v := tx.Bucket(kinds[Collections].bucket).Get([]byte(c.UUID()))
			return tx.Bucket(kinds[Collections].bucket).Put([]byte("zzzzz-4zz18-000000000000009"), append([]byte(nil), v...))
		}, "stored under key"},
		{"pdh does not match manifest", func(tx *bolt.Tx, c, _, _ Record) error {
			c["manifest_text"] = ""
			b := tx.Bucket(kinds[Collections].bucket)
			return b.Put([]byte(c.UUID()), mustJSON(c))
		}, "does not match"},
		{"undecodable record", func(tx *bolt.Tx, _, _, _ Record) error {
			return tx.Bucket(kinds[Workflows].bucket).Put([]byte("zzzzz-7fd4e-000000000000000"), []byte("{"))
		}, "decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(t)
			a := newUser(t, s, "a@example.com", false)
			b := newUser(t, s, "b@example.com", false)
			c := mustCreate(t, s, Collections, Record{"manifest_text": ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo\n"}, a)
			l := mustCreate(t, s, Links, Record{"link_class": "permission", "name": "can_read", "tail_uuid": b.User.UUID, "head_uuid": c.UUID()}, a)
			tok, _ := s.Get(APIClientAuthorizations, a.Token.UUID, a)
			if err := s.Check(); err != nil {
				t.Fatalf("before damage: %v", err)
			}
			if err := s.db.Update(func(tx *bolt.Tx) error { return tc.damage(tx, c, tok, l) }); err != nil {
				t.Fatal(err)
			}
			err := s.Check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v, want %q", err, tc.want)
			}
		})
	}
}

func mustJSON(r Record) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return b
}

const crashWriterEnv = "KEEPFED_STORE_CRASH_WRITER"

// TestCrashConsistency kills a writing process (this test binary, started
// again in writer mode) with SIGKILL at random moments and checks that the
// store it leaves is consistent every time.
func TestCrashConsistency(t *testing.T) {
	if path := os.Getenv(crashWriterEnv); path != "" {
		crashWriter(path) // loops until killed
		return
	}
	path := filepath.Join(t.TempDir(), "records.db")
	s, err := Open(path, testCluster)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	prev := 0
	for i := range 10 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashConsistency$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashWriterEnv+"="+path)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if sc.Text() == "writing" {
					ready <- true
					break
				}
			}
			close(ready)
		}()
		select {
		case ok := <-ready:
			if !ok {
				cmd.Wait()
				t.Fatal("writer exited before writing")
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("writer did not start")
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()

		s, err := Open(path, testCluster)
		if err != nil {
			t.Fatalf("iteration %d: reopen: %v", i, err)
		}
		if err := s.Check(); err != nil {
			s.Close()
			t.Fatalf("iteration %d: %v", i, err)
		}
		l, err := s.List(Collections, ListOptions{Limit: -1}, s.System())
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("iteration %d: %d collections", i, l.ItemsAvailable)
		prev = max(prev, l.ItemsAvailable)
	}
	if prev == 0 {
		t.Fatal("the writers never committed anything")
	}
}

// crashWriter writes every kind of record, with updates and deletes, until
// the process is killed.
func crashWriter(path string) {
	s, err := Open(path, testCluster)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash writer:", err)
		os.Exit(2)
	}
	fmt.Println("writing")
	fail := func(err error) {
		if err != nil {
			fmt.Fprintln(os.Stderr, "crash writer:", err)
			os.Exit(3)
		}
	}
	for i := 0; ; i++ {
		u, err := s.CreateUser(fmt.Sprintf("u%d-%d@example.com", os.Getpid(), i), false)
		fail(err)
		tok, err := s.CreateToken(u.UUID, nil)
		fail(err)
		a, err := s.LookupToken(tok.V2(), "")
		fail(err)
		g, err := s.Create(Groups, Record{"name": "p", "group_class": "project"}, a)
		fail(err)
		c, err := s.Create(Collections, Record{"owner_uuid": g.UUID(), "manifest_text": fmt.Sprintf(". %032x+%d 0:%d:f\n", i, i, i)}, a)
		fail(err)
		_, err = s.Update(Collections, c.UUID(), Record{"manifest_text": fmt.Sprintf(". %032x+%d 0:%d:g\n", i+1, i, i)}, a)
		fail(err)
		l, err := s.Create(Links, Record{"link_class": "permission", "name": "can_read", "tail_uuid": s.AllUsersGroupUUID(), "head_uuid": c.UUID()}, a)
		fail(err)
		if i%3 == 0 {
			_, err = s.Delete(Links, l.UUID(), a)
			fail(err)
			fail(s.RevokeToken(tok.UUID))
		}
		if i%5 == 0 {
			_, err = s.Delete(Collections, c.UUID(), s.System())
			fail(err)
		}
	}
}

func TestConcurrentWriters(t *testing.T) {
	s := newTestStore(t)
	const writers, each = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers*2)
	for w := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs <- func() error {
				u, err := s.CreateUser(fmt.Sprintf("w%d@example.com", w), false)
				if err != nil {
					return err
				}
				tok, err := s.CreateToken(u.UUID, nil)
				if err != nil {
					return err
				}
				a, err := s.LookupToken(tok.V2(), "")
				if err != nil {
					return err
				}
				for i := range each {
					c, err := s.Create(Collections, Record{"name": fmt.Sprintf("w%d-%d", w, i), "manifest_text": fmt.Sprintf(". %032x+1 0:1:f\n", i)}, a)
					if err != nil {
						return err
					}
					if _, err := s.Update(Collections, c.UUID(), Record{"description": "updated"}, a); err != nil {
						return err
					}
				}
				return nil
			}()
		}()
		go func() { // a reader alongside
			defer wg.Done()
			errs <- func() error {
				for range each {
					if _, err := s.List(Collections, ListOptions{}, s.System()); err != nil {
						return err
					}
					if _, err := s.FindByPDH(fmt.Sprintf("%032x+1", 0), s.System()); err != nil && StatusOf(err) != 404 {
						return err
					}
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	l, err := s.List(Collections, ListOptions{Limit: -1, Filters: []Filter{{"description", "=", "updated"}}}, s.System())
	if err != nil || l.ItemsAvailable != writers*each {
		t.Fatalf("%d collections, %v", l.ItemsAvailable, err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}
