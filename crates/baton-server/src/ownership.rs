//! Which tenant owns which thread.
//!
//! The [`Store`] traits keep messages and episodes, and nothing else: there is no place for a
//! thread's owner. So the owner is written into the thread's id. A thread created by the server
//! gets a UUID v7 whose first twelve bytes are the usual timestamp and counter, and whose last
//! four bytes (random in an ordinary v7) are a tag: the first 32 bits of
//! `SHA-256(domain, tenant name, first twelve bytes)`. The id stays a valid, time-ordered v7,
//! and whoever holds it can check, without any lookup, which tenant it was made for.
//!
//! Ownership is then decided in two steps:
//!
//! 1. Threads created by this process are in an in-memory map (thread → tenant). The map is
//!    the authority for them, including threads that have no message yet.
//! 2. A thread not in the map (the process restarted, or another server process shares the
//!    store) belongs to a tenant if its id carries that tenant's tag **and** the store holds
//!    messages for it. The second condition means a caller cannot bring a thread into being by
//!    choosing an id: only the server mints ids, and only threads it wrote to exist.
//!
//! Limits: a thread created but never written to is forgotten on restart; renaming a tenant
//! orphans its threads (tokens may rotate freely); a foreign id matches a tenant's tag by
//! chance with probability 2⁻³², and even then only if the store holds that thread.

use baton_core::error::StoreError;
use baton_core::ids::ThreadId;
use baton_core::memory::{Page, Store};
use dashmap::DashMap;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use uuid::Uuid;

const DOMAIN: &[u8] = b"baton-server/thread-owner/v1";
/// Bytes of a v7 UUID that hold the timestamp, the version, the counter and the variant.
const HEAD: usize = 12;

/// Threads and their owners (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct ThreadOwners {
    known: DashMap<ThreadId, Arc<str>>,
}

impl ThreadOwners {
    /// A new thread owned by `tenant`.
    pub(crate) fn create(&self, tenant: &Arc<str>) -> ThreadId {
        let thread = mint(tenant);
        self.known.insert(thread, Arc::clone(tenant));
        thread
    }

    /// Whether `tenant` owns `thread`.
    pub(crate) async fn owns(
        &self,
        store: &Arc<dyn Store>,
        tenant: &Arc<str>,
        thread: ThreadId,
    ) -> Result<bool, StoreError> {
        if let Some(owner) = self.known.get(&thread) {
            return Ok(owner.as_ref() == tenant.as_ref());
        }
        if !is_tagged_for(tenant, thread) {
            return Ok(false);
        }
        let exists = !store.list(thread, Page::new(0, 1)).await?.is_empty();
        if exists {
            self.known.insert(thread, Arc::clone(tenant));
        }
        Ok(exists)
    }

    /// The threads of `tenant`, oldest first: those created here, and those of the store
    /// tagged for it. Reads the store's whole thread list.
    pub(crate) async fn list(
        &self,
        store: &Arc<dyn Store>,
        tenant: &Arc<str>,
    ) -> Result<Vec<ThreadId>, StoreError> {
        const BATCH: u64 = 1000;
        let mut threads: Vec<ThreadId> = self
            .known
            .iter()
            .filter(|entry| entry.value().as_ref() == tenant.as_ref())
            .map(|entry| *entry.key())
            .collect();
        let mut offset = 0;
        loop {
            let batch = store.threads(Page::new(offset, BATCH)).await?;
            let full = batch.len() as u64 == BATCH;
            threads.extend(batch.into_iter().filter(|thread| {
                is_tagged_for(tenant, *thread) && !self.known.contains_key(thread)
            }));
            if !full {
                break;
            }
            offset += BATCH;
        }
        threads.sort_unstable();
        threads.dedup();
        Ok(threads)
    }
}

/// A new v7 thread id carrying `tenant`'s tag.
fn mint(tenant: &str) -> ThreadId {
    let mut bytes = *Uuid::now_v7().as_bytes();
    let tag = tag(tenant, &bytes);
    bytes[HEAD..].copy_from_slice(&tag);
    ThreadId::from_uuid(Uuid::from_bytes(bytes))
}

/// Whether `thread` carries `tenant`'s tag.
fn is_tagged_for(tenant: &str, thread: ThreadId) -> bool {
    let bytes = thread.as_uuid().as_bytes();
    thread.as_uuid().get_version_num() == 7 && bool::from(tag(tenant, bytes).ct_eq(&bytes[HEAD..]))
}

fn tag(tenant: &str, id: &[u8; 16]) -> [u8; 4] {
    let mut hash = Sha256::new();
    hash.update(DOMAIN);
    hash.update((tenant.len() as u64).to_le_bytes());
    hash.update(tenant.as_bytes());
    hash.update(&id[..HEAD]);
    let digest = hash.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::llm::Message;
    use baton_core::memory::InMemoryStore;

    #[test]
    fn minted_ids_are_v7_time_ordered_and_tagged_for_their_tenant_only() {
        let first = mint("acme");
        let second = mint("acme");
        assert_eq!(first.as_uuid().get_version_num(), 7);
        assert!(second > first, "ids keep their creation order");
        assert!(is_tagged_for("acme", first));
        assert!(!is_tagged_for("globex", first));
        assert!(!is_tagged_for("acme", ThreadId::new()));
    }

    #[tokio::test]
    async fn ownership_survives_a_restart_through_the_store() {
        let store: Arc<dyn Store> = InMemoryStore::shared();
        let acme: Arc<str> = Arc::from("acme");
        let globex: Arc<str> = Arc::from("globex");
        let before = ThreadOwners::default();
        let written = before.create(&acme);
        let empty = before.create(&acme);
        store
            .append(written, Some(0), &[Arc::new(Message::user("hi"))])
            .await
            .unwrap();
        assert!(before.owns(&store, &acme, empty).await.unwrap());
        assert!(!before.owns(&store, &globex, written).await.unwrap());

        let after = ThreadOwners::default();
        assert!(after.owns(&store, &acme, written).await.unwrap());
        assert!(!after.owns(&store, &globex, written).await.unwrap());
        assert!(
            !after.owns(&store, &acme, empty).await.unwrap(),
            "a thread never written to is not in the store"
        );
        assert_eq!(after.list(&store, &acme).await.unwrap(), vec![written]);
        assert!(after.list(&store, &globex).await.unwrap().is_empty());
    }
}
