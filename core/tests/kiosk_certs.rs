//! Kiosk certificate records (pin, re-issue, revoke, look up by fingerprint) on SQLite and
//! PostgreSQL: the same answers from both, and every change in the audit log.

mod support;

use support::{fixture, Db};
use zhenwei_core::kiosk_certs::{CertificateStatus, IssuedCertificate};
use zhenwei_core::lifecycle::LifecycleError;
use zhenwei_core::{audit, Thresholds};

fn cert(fill: char, serial: &str) -> IssuedCertificate {
    IssuedCertificate {
        serial: serial.into(),
        sha256: fill.to_string().repeat(64),
        not_after: 4_102_444_800_000,
    }
}

async fn kiosk_certificates_are_pinned_and_revoked(db: Db) {
    let f = fixture(db, Thresholds::default()).await;
    let reg = &f.core.registry;
    let store = reg
        .add_store("t", "测试门店", "330203", None)
        .await
        .expect("store");
    reg.add_kiosk("t", store, "kiosk-t-01")
        .await
        .expect("kiosk");

    // Registered without a certificate: listed, but no certificate names it.
    let k = reg
        .kiosk_record("kiosk-t-01")
        .await
        .unwrap()
        .expect("listed");
    assert_eq!(k.status(), CertificateStatus::None);
    assert_eq!((k.store_id, k.division.as_str()), (store, "330203"));
    assert!(reg
        .kiosk_by_certificate(&"a".repeat(64))
        .await
        .unwrap()
        .is_none());

    // Pinned: found by fingerprint, with its store.
    reg.record_kiosk_certificate("t", "kiosk-t-01", &cert('a', "01"))
        .await
        .unwrap();
    let k = reg
        .kiosk_by_certificate(&"a".repeat(64))
        .await
        .unwrap()
        .expect("pinned");
    assert_eq!(k.name, "kiosk-t-01");
    assert_eq!(k.status(), CertificateStatus::Active);
    assert_eq!(k.cert_serial.as_deref(), Some("01"));
    assert_eq!(k.store_name, "测试门店");

    // Re-issued: the old fingerprint names nobody any more.
    reg.record_kiosk_certificate("t", "kiosk-t-01", &cert('b', "02"))
        .await
        .unwrap();
    assert!(reg
        .kiosk_by_certificate(&"a".repeat(64))
        .await
        .unwrap()
        .is_none());

    // Revoked: still found (so the server can say "revoked"), status revoked; twice is refused.
    reg.revoke_kiosk("t", "kiosk-t-01").await.unwrap();
    let k = reg
        .kiosk_by_certificate(&"b".repeat(64))
        .await
        .unwrap()
        .expect("still pinned");
    assert_eq!(k.status(), CertificateStatus::Revoked);
    assert!(matches!(
        reg.revoke_kiosk("t", "kiosk-t-01").await,
        Err(LifecycleError::Conflict(_))
    ));
    assert!(matches!(
        reg.revoke_kiosk("t", "no-such-kiosk").await,
        Err(LifecycleError::NotFound(_))
    ));
    assert!(matches!(
        reg.record_kiosk_certificate("t", "no-such-kiosk", &cert('c', "03"))
            .await,
        Err(LifecycleError::NotFound(_))
    ));
    assert!(matches!(
        reg.record_kiosk_certificate(
            "t",
            "kiosk-t-01",
            &IssuedCertificate {
                serial: "04".into(),
                sha256: "not hex".into(),
                not_after: 0,
            }
        )
        .await,
        Err(LifecycleError::Invalid(_))
    ));

    // A new certificate lifts the revocation.
    reg.record_kiosk_certificate("t", "kiosk-t-01", &cert('d', "05"))
        .await
        .unwrap();
    let all = reg.kiosks().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].status(), CertificateStatus::Active);
    assert_eq!(all[0].revoked_at, None);

    // Two certificates cannot share a fingerprint.
    reg.add_kiosk("t", store, "kiosk-t-02").await.unwrap();
    assert!(reg
        .record_kiosk_certificate("t", "kiosk-t-02", &cert('d', "06"))
        .await
        .is_err());

    // Every change is audited, and no key material is (there is none to audit).
    let actions: Vec<String> = audit::entries(&f.core.store, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    let count = |a: &str| actions.iter().filter(|x| *x == a).count();
    assert_eq!(count("kiosk.certificate"), 3);
    assert_eq!(count("kiosk.revoke"), 1);
    assert_eq!(
        audit::verify_chain(&f.core.store).await.unwrap().broken_at,
        None
    );
}

on_both_backends!(kiosk_certificates_are_pinned_and_revoked);
