package store_test

import (
	"testing"

	"github.com/onekey-oss/onekey/pkg/store/storetest"
)

// One embedded FerretDB serves every test in this binary (see storetest); each test gets its own database.
func TestMain(m *testing.M) { storetest.Main(m) }
