package tokencache

// RowKeys is where k's row lives, so tests can look at it or tamper with it.
func RowKeys(k Key) (partitionKey, rowKey string) {
	e, err := k.canonical()
	if err != nil {
		panic(err)
	}
	return e.rowKeys()
}

// Limits on a cached token's scope list.
const (
	MaxTokenScopes     = maxTokenScopes
	MaxTokenScopeBytes = maxTokenScopeBytes
)
