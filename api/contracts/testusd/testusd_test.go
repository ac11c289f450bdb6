package testusd_test

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/api/contracts/testusd"
)

func TestTestUSD_ArtifactsAreACompiledERC20WithSixDecimals(t *testing.T) {
	var abi []struct {
		Type   string `json:"type"`
		Name   string `json:"name"`
		Inputs []struct {
			Type    string `json:"type"`
			Indexed bool   `json:"indexed"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(testusd.ABI()), &abi); err != nil {
		t.Fatalf("ABI is not JSON: %v", err)
	}
	want := map[string]bool{"function transfer": false, "event Transfer": false, "function decimals": false, "function mint": false}
	for _, e := range abi {
		k := e.Type + " " + e.Name
		if _, ok := want[k]; ok {
			want[k] = true
		}
		if k == "event Transfer" && (len(e.Inputs) != 3 || !e.Inputs[0].Indexed || !e.Inputs[1].Indexed || e.Inputs[2].Indexed) {
			t.Errorf("Transfer event is not ERC-20 shaped: %+v", e.Inputs)
		}
	}
	for k, ok := range want {
		if !ok {
			t.Errorf("ABI lacks %s", k)
		}
	}
	if _, err := hex.DecodeString(testusd.Bytecode()); err != nil || len(testusd.Bytecode()) < 100 {
		t.Errorf("bytecode is not hex: %v", err)
	}
	if !strings.Contains(testusd.Source, "decimals = 6") {
		t.Error("source does not declare 6 decimals")
	}
}
