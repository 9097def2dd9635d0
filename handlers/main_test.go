package handlers

import (
	"testing"

	"github.com/infradash/infradash/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }
