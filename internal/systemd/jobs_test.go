package systemd

import (
	"errors"
	"testing"

	godbus "github.com/godbus/dbus/v5"
	"github.com/stretchr/testify/assert"
)

func TestJobErrorExplainsEachResult(t *testing.T) {
	cases := []struct {
		result string
		want   string
	}{
		{"failed", `systemd start microvm@a.service: job result "failed": the unit failed`},
		{"dependency", "a unit it requires failed"},
		{"timeout", "the unit's job timeout passed"},
		{"canceled", "the job was canceled"},
		{"skipped", "the job did not apply"},
		{"weird", "unexpected job result"},
	}
	for _, tc := range cases {
		t.Run("result "+tc.result, func(t *testing.T) {
			err := error(&JobError{Unit: "microvm@a.service", Verb: Start, Result: tc.result})
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestFailedConditionRendersTheFirstFailedOne(t *testing.T) {
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"a failed path condition", [][]any{{"ConditionPathExists", false, false, "/var/lib/microvms/a/current/bin/microvm-run", int32(-1)}}, "ConditionPathExists=/var/lib/microvms/a/current/bin/microvm-run"},
		{"a negated one keeps its bang", [][]any{{"ConditionPathExists", false, true, "/x", int32(-1)}}, "ConditionPathExists=!/x"},
		{"passed conditions give nothing", [][]any{{"ConditionPathExists", false, false, "/x", int32(1)}}, ""},
		{"an unexpected shape gives nothing", "nope", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, failedCondition(tc.v))
		})
	}
}

func TestNoSuchUnitBecomesTheSentinel(t *testing.T) {
	err := translate(godbus.Error{Name: "org.freedesktop.systemd1.NoSuchUnit", Body: []any{"Unit x.service not found."}})
	assert.True(t, errors.Is(err, ErrNoSuchUnit))
	other := translate(godbus.Error{Name: "org.freedesktop.DBus.Error.AccessDenied"})
	assert.False(t, errors.Is(other, ErrNoSuchUnit))
}
