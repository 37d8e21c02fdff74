package statedir

import (
	"errors"
	"os/user"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUserIDAndGroupIDTakeNumbersAsTheyAreAndLookNamesUp(t *testing.T) {
	id, err := UserID("4242")
	require.NoError(t, err)
	assert.Equal(t, 4242, id, "a number needs no user of that id")
	id, err = GroupID("4243")
	require.NoError(t, err)
	assert.Equal(t, 4243, id)

	me, err := user.Current()
	require.NoError(t, err)
	id, err = UserID(me.Username)
	require.NoError(t, err)
	assert.Equal(t, me.Uid, strconv.Itoa(id))
	g, err := user.LookupGroupId(me.Gid)
	require.NoError(t, err)
	id, err = GroupID(g.Name)
	require.NoError(t, err)
	assert.Equal(t, me.Gid, strconv.Itoa(id))
}

func TestUserIDAndGroupIDGiveTheLookupsOwnError(t *testing.T) {
	_, err := UserID("no-such-user-bo-microvm")
	var uerr user.UnknownUserError
	assert.True(t, errors.As(err, &uerr), "got %v", err)
	_, err = GroupID("no-such-group-bo-microvm")
	var gerr user.UnknownGroupError
	assert.True(t, errors.As(err, &gerr), "got %v", err)
}
