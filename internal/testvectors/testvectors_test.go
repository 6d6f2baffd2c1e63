package testvectors

import "testing"

func TestLoadEveryFile(t *testing.T) {
	for _, name := range []string{"signatures.json", "salt.json", "locators.json", "manifests.json", "rendezvous.json"} {
		t.Run(name, func(t *testing.T) {
			var v map[string]any
			Load(t, name, &v)
			if v["description"] == nil {
				t.Fatalf("%s has no description", name)
			}
		})
	}
}
