//! Opening a store works inside spawned tasks: the futures are `Send`.

fn assert_send<T: Send>(_: &T) {}

#[test]
fn opening_and_connecting_can_run_in_spawned_tasks() {
    let open = baton_store::SqliteStore::open("unused.db");
    assert_send(&open);
    let in_memory = baton_store::SqliteStore::open_in_memory();
    assert_send(&in_memory);
    let connect = baton_store::PostgresStore::connect("postgres://unused");
    assert_send(&connect);
}
