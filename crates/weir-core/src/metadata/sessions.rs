//! The active controller's view of broker liveness, after Kafka's
//! `BrokerHeartbeatManager`: heartbeats are kept in memory only (never in
//! the metadata log); a broker that has not been heard from for
//! `broker.session.timeout.ms` is fenced; a fenced broker is unfenced
//! once its heartbeats show it has caught up with the metadata log up to
//! its own registration.
//!
//! A controller that has just become active knows nobody's last
//! heartbeat, so it starts every registered broker's session at that
//! moment ([`BrokerSessions::reset`]), as Kafka does.

use super::image::MetadataImage;
use std::collections::BTreeMap;

/// What the controller does about one heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatVerdict {
    /// The broker is not registered, or with another epoch: it must
    /// register again (STALE_BROKER_EPOCH).
    StaleEpoch,
    /// Nothing to do; `fenced` is its current state.
    Ok {
        /// Whether the broker is fenced.
        fenced: bool,
    },
    /// The broker is fenced and has caught up: commit its unfencing.
    Unfence,
}

#[derive(Debug, Clone, Copy)]
struct Session {
    last_contact_ms: i64,
    /// Metadata log index the broker must have applied to be unfenced
    /// (its registration's index, or the controller's applied index when
    /// this controller did not see the registration).
    catch_up_index: u64,
}

/// Liveness of every broker, as the active controller tracks it.
#[derive(Debug, Clone)]
pub struct BrokerSessions {
    session_timeout_ms: i64,
    sessions: BTreeMap<i32, Session>,
}

impl BrokerSessions {
    /// No sessions yet.
    pub fn new(session_timeout_ms: i64) -> Self {
        BrokerSessions {
            session_timeout_ms,
            sessions: BTreeMap::new(),
        }
    }

    /// Start over as a newly active controller at `now_ms`: every broker
    /// of `image` gets a fresh session that must catch up to
    /// `applied_index` before it is unfenced.
    pub fn reset(&mut self, image: &MetadataImage, now_ms: i64, applied_index: u64) {
        self.sessions = image
            .brokers()
            .map(|b| {
                (
                    b.broker_id,
                    Session {
                        last_contact_ms: now_ms,
                        catch_up_index: applied_index,
                    },
                )
            })
            .collect();
    }

    /// A registration of `broker_id` was committed at `index`.
    pub fn registered(&mut self, broker_id: i32, now_ms: i64, index: u64) {
        self.sessions.insert(
            broker_id,
            Session {
                last_contact_ms: now_ms,
                catch_up_index: index,
            },
        );
    }

    /// A heartbeat from `broker_id` with `broker_epoch`, whose metadata
    /// image has applied up to `applied_index`. `controller_index` is the
    /// controller's applied index, the bar for a broker this controller
    /// has no session for.
    pub fn heartbeat(
        &mut self,
        image: &MetadataImage,
        broker_id: i32,
        broker_epoch: i64,
        applied_index: u64,
        now_ms: i64,
        controller_index: u64,
    ) -> HeartbeatVerdict {
        let Some(registration) = image.broker(broker_id) else {
            return HeartbeatVerdict::StaleEpoch;
        };
        if registration.broker_epoch != broker_epoch {
            return HeartbeatVerdict::StaleEpoch;
        }
        let session = self.sessions.entry(broker_id).or_insert(Session {
            last_contact_ms: now_ms,
            catch_up_index: controller_index,
        });
        session.last_contact_ms = session.last_contact_ms.max(now_ms);
        if registration.fenced && applied_index >= session.catch_up_index {
            HeartbeatVerdict::Unfence
        } else {
            HeartbeatVerdict::Ok {
                fenced: registration.fenced,
            }
        }
    }

    /// Unfenced brokers of `image` whose session has expired at `now_ms`,
    /// in id order. A broker with no session is given one now.
    pub fn expired(&mut self, image: &MetadataImage, now_ms: i64) -> Vec<i32> {
        let mut out = Vec::new();
        for broker in image.unfenced_brokers() {
            let session = self.sessions.entry(broker.broker_id).or_insert(Session {
                last_contact_ms: now_ms,
                catch_up_index: 0,
            });
            if now_ms - session.last_contact_ms > self.session_timeout_ms {
                out.push(broker.broker_id);
            }
        }
        out
    }

    /// Milliseconds since `broker_id` was last heard from, if known.
    pub fn silence_ms(&self, broker_id: i32, now_ms: i64) -> Option<i64> {
        self.sessions
            .get(&broker_id)
            .map(|s| now_ms - s.last_contact_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::records::MetadataRecord;
    use uuid::Uuid;

    fn image_with(brokers: &[(i32, i64, bool)]) -> MetadataImage {
        let mut image = MetadataImage::new();
        for &(id, epoch, fenced) in brokers {
            image
                .apply(&MetadataRecord::RegisterBroker {
                    broker_id: id,
                    incarnation_id: Uuid::from_u128(id as u128),
                    broker_epoch: epoch,
                    listeners: vec![],
                    rack: None,
                })
                .unwrap();
            if !fenced {
                image
                    .apply(&MetadataRecord::UnfenceBroker {
                        broker_id: id,
                        broker_epoch: epoch,
                    })
                    .unwrap();
            }
        }
        image
    }

    #[test]
    fn a_silent_broker_expires_after_the_session_timeout_and_not_before() {
        let image = image_with(&[(1, 10, false), (2, 11, false), (3, 12, true)]);
        let mut s = BrokerSessions::new(9000);
        s.reset(&image, 1_000, 50);
        assert_eq!(
            s.heartbeat(&image, 1, 10, 50, 5_000, 50),
            HeartbeatVerdict::Ok { fenced: false }
        );
        // 2 last heard at 1_000 (the reset): expires strictly after 10_000.
        assert_eq!(s.expired(&image, 10_000), Vec::<i32>::new());
        assert_eq!(s.expired(&image, 10_001), vec![2]);
        // 1 heard at 5_000; 3 is fenced already, so never "expired".
        assert_eq!(s.expired(&image, 14_001), vec![1, 2]);
        assert_eq!(s.silence_ms(1, 14_001), Some(9_001));
    }

    #[test]
    fn heartbeats_with_a_wrong_epoch_or_from_strangers_are_stale() {
        let image = image_with(&[(1, 10, false)]);
        let mut s = BrokerSessions::new(9000);
        assert_eq!(
            s.heartbeat(&image, 1, 9, 0, 0, 0),
            HeartbeatVerdict::StaleEpoch
        );
        assert_eq!(
            s.heartbeat(&image, 4, 10, 0, 0, 0),
            HeartbeatVerdict::StaleEpoch
        );
    }

    #[test]
    fn a_fenced_broker_is_unfenced_once_caught_up_to_its_registration() {
        let image = image_with(&[(1, 10, true)]);
        let mut s = BrokerSessions::new(9000);
        s.registered(1, 0, 40);
        assert_eq!(
            s.heartbeat(&image, 1, 10, 39, 100, 45),
            HeartbeatVerdict::Ok { fenced: true }
        );
        assert_eq!(
            s.heartbeat(&image, 1, 10, 40, 200, 45),
            HeartbeatVerdict::Unfence
        );
    }

    #[test]
    fn without_a_session_the_bar_is_the_controllers_applied_index() {
        let image = image_with(&[(1, 10, true)]);
        let mut s = BrokerSessions::new(9000);
        assert_eq!(
            s.heartbeat(&image, 1, 10, 44, 0, 45),
            HeartbeatVerdict::Ok { fenced: true }
        );
        assert_eq!(
            s.heartbeat(&image, 1, 10, 45, 0, 45),
            HeartbeatVerdict::Unfence
        );
    }

    #[test]
    fn an_unfenced_broker_without_a_session_gets_one_instead_of_expiring() {
        let image = image_with(&[(1, 10, false)]);
        let mut s = BrokerSessions::new(100);
        assert_eq!(s.expired(&image, 1_000_000), Vec::<i32>::new());
        assert_eq!(s.expired(&image, 1_000_101), vec![1]);
    }
}
