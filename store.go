package platform

// Store is all control-plane state. sqlstore implements it on SQLite (the embedded
// default) and PostgreSQL; storetest is the suite both pass.
type Store interface {
	NamespaceStore
	ServiceStore
	BuildStore
	UploadStore
	ReleaseStore
	RepoStore
	InstanceStore
	EventStore
	TokenStore
	UsageStore
	ResourceStore
	RegionStore
	OrgStore
	UserStore
	AuditStore
	AlertStore
	MeteringStore
	BillingStore
	Close() error
}
