//! Advice text: what a verdict means for the person holding the product, in their language.
//!
//! The verdict's fields are for machines; `message` is for people. Channels with room (kiosk,
//! web, CLI) show it whole; SMS and IVR compose shorter forms from the same fields. Chinese is the
//! default, English on request.

use crate::clock::local_time;
use serde::{Deserialize, Serialize};

use crate::verdict::{Authenticity, Warning};
use crate::verify::Verdict;

/// The language of the answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s.to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "cn" => Some(Lang::Zh),
            "en" | "en-us" | "en-gb" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn is_en(self) -> bool {
        self == Lang::En
    }
}

/// The kind of regulatory notice behind a warning, if it comes from one.
pub fn notice_kind(w: Warning) -> Option<&'static str> {
    Some(match w {
        Warning::Recalled => "recall",
        Warning::SpotCheckFailed => "spot_check",
        Warning::CertificateInvalid => "ccc",
        Warning::LicenceInvalid => "licence",
        Warning::EnterpriseBlacklisted => "blacklist",
        _ => return None,
    })
}

/// The regulator's own advice behind a warning (a recall's instructions, say), in `lang`,
/// falling back to the other language. Channels with a length budget (the SMS reply, the IVR
/// prompt) use it directly; [`message`] includes it in the warning's line.
pub fn notice_advice(v: &Verdict, w: Warning, lang: Lang) -> Option<String> {
    let kind = notice_kind(w)?;
    let n = v.notices.iter().find(|n| n.kind == kind)?;
    let (first, second) = if lang.is_en() {
        (&n.advice_en, &n.advice_zh)
    } else {
        (&n.advice_zh, &n.advice_en)
    };
    first.clone().or_else(|| second.clone())
}

/// One line per warning.
pub fn warning_text(w: Warning, v: &Verdict, lang: Lang) -> String {
    let line = warning_line(w, v, lang);
    match (w, notice_advice(v, w, lang)) {
        // A recall's line is built around its advice.
        (Warning::Recalled, _) | (_, None) => line,
        (_, Some(advice)) if lang.is_en() => format!("{line} {advice}"),
        (_, Some(advice)) => format!("{line}{advice}"),
    }
}

/// How much room a channel has for a warning: the kiosk screen, web page and IVR take the long
/// form, an SMS reply the short one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Long,
    Short,
}

/// The one table of the fixed warning texts (those without figures or the regulator's own
/// advice), long and short, Chinese and English: `[zh long, en long, zh short, en short]`.
/// [`message`] and the SMS reply composer both read it.
const FIXED: &[(Warning, [&str; 4])] = &[
    (
        Warning::CloneSuspected,
        [
            "此码在多个地点被查询，疑似被复制。",
            "This code has been checked in several places; it may have been copied.",
            "此码在多地被查询，疑似被复制。",
            "This code was checked in several places; it may have been copied.",
        ],
    ),
    (
        Warning::NotActivated,
        [
            "此码尚未激活，正规渠道的商品不应出现此码。",
            "This code was never activated: no genuine item carrying it has shipped.",
            "此码未激活，正规商品不应有此码。",
            "This code was never activated.",
        ],
    ),
    (
        Warning::Cancelled,
        [
            "此码已被注销。",
            "This code has been cancelled.",
            "此码已注销。",
            "This code was cancelled.",
        ],
    ),
    (
        Warning::BatchMismatch,
        [
            "包装上的批号与登记的批号不符。",
            "The lot number on the pack does not match the registered batch.",
            "批号与登记不符。",
            "The lot does not match the registered batch.",
        ],
    ),
    (
        Warning::ExpiryMismatch,
        [
            "包装上的有效期与登记的不符。",
            "The expiry date on the pack does not match the registered batch.",
            "有效期与登记不符。",
            "The expiry date does not match the registered batch.",
        ],
    ),
    (
        Warning::SpotCheckFailed,
        [
            "该产品在监督抽查中不合格。",
            "This product failed an official quality spot check.",
            "该批次监督抽查不合格。",
            "This batch failed an official spot check.",
        ],
    ),
    (
        Warning::CertificateInvalid,
        [
            "该产品的CCC认证证书已失效（撤销、暂停或注销）。",
            "This product's CCC certificate is no longer valid (revoked, suspended or cancelled).",
            "CCC认证证书已失效。",
            "Its CCC certificate is no longer valid.",
        ],
    ),
    (
        Warning::LicenceInvalid,
        [
            "该产品的许可证已失效。",
            "This product's licence is no longer valid.",
            "产品许可证已失效。",
            "Its licence is no longer valid.",
        ],
    ),
    (
        Warning::EnterpriseBlacklisted,
        [
            "生产企业已被列入严重违法失信名单。",
            "The manufacturer is on the serious-violator list.",
            "生产企业已列入严重违法失信名单。",
            "The maker is on the serious-violator list.",
        ],
    ),
    (
        Warning::PrefixInvalid,
        [
            "该商品的厂商识别代码已失效或未注册。",
            "The manufacturer's barcode prefix is expired, cancelled or unregistered.",
            "厂商识别代码已失效。",
            "The maker's barcode prefix is not valid.",
        ],
    ),
];

/// The fixed text of warning `w` in `form` and `lang`; `None` for the warnings whose text
/// carries figures or a regulator's advice (repeat and excessive queries, expiry, recall).
pub fn fixed_warning(w: Warning, form: Form, lang: Lang) -> Option<&'static str> {
    let texts = FIXED.iter().find(|(k, _)| *k == w).map(|(_, t)| t)?;
    let i = match (form, lang.is_en()) {
        (Form::Long, false) => 0,
        (Form::Long, true) => 1,
        (Form::Short, false) => 2,
        (Form::Short, true) => 3,
    };
    texts.get(i).copied()
}

fn warning_line(w: Warning, v: &Verdict, lang: Lang) -> String {
    let en = lang.is_en();
    let notice_advice = |kind: &str| {
        v.notices.iter().find(|n| n.kind == kind).and_then(|n| {
            if en {
                n.advice_en.clone()
            } else {
                n.advice_zh.clone()
            }
        })
    };
    let expiry = v
        .batch
        .as_ref()
        .and_then(|b| b.expiry_date.clone())
        .unwrap_or_default();
    match (w, en) {
        (Warning::RepeatQuery, false) => {
            let place = v.first_queried_city.clone().unwrap_or_else(|| "未知地点".into());
            let at = v.first_queried_at.map(local_time).unwrap_or_default();
            format!(
                "此码已被查询{}次，首次查询于{}（{}）。如非本人查询，请谨慎。",
                v.query_count, at, place
            )
        }
        (Warning::RepeatQuery, true) => {
            let place = v
                .first_queried_city
                .clone()
                .unwrap_or_else(|| "an unknown place".into());
            let at = v.first_queried_at.map(local_time).unwrap_or_default();
            format!(
                "This code has been checked {} times, first on {} in {}. If that was not you, beware.",
                v.query_count, at, place
            )
        }
        (Warning::ExcessiveQueries, false) => {
            format!("此码已被查询{}次，远超正常次数，疑似被复制。", v.query_count)
        }
        (Warning::ExcessiveQueries, true) => format!(
            "This code has been checked {} times, far more than a genuine item is; it may have been copied.",
            v.query_count
        ),
        (Warning::Expired, false) => format!("该商品已过有效期（{expiry}），请勿使用。"),
        (Warning::Expired, true) => format!("This item expired on {expiry}; do not use it."),
        (Warning::Recalled, false) => notice_advice("recall")
            .map(|a| format!("该批次已被召回：{a}"))
            .unwrap_or_else(|| "该批次已被召回，请立即停止使用。".into()),
        (Warning::Recalled, true) => notice_advice("recall")
            .map(|a| format!("This batch has been recalled: {a}"))
            .unwrap_or_else(|| "This batch has been recalled; stop using it now.".into()),
        // The fixed ones, from the table.
        (w, _) => fixed_warning(w, Form::Long, lang)
            .unwrap_or_default()
            .to_owned(),
    }
}

/// The whole advice text for a verdict.
pub fn message(v: &Verdict, lang: Lang) -> String {
    let en = lang.is_en();
    let product = v.product.as_ref().map(|p| {
        if en {
            p.name_en.clone().unwrap_or_else(|| p.name.clone())
        } else {
            p.name.clone()
        }
    });
    let enterprise = v.enterprise.as_ref().map(|e| {
        if en {
            e.name_en.clone().unwrap_or_else(|| e.name.clone())
        } else {
            e.name.clone()
        }
    });
    let mut parts: Vec<String> = Vec::new();
    match v.authenticity {
        Authenticity::NotACode => {
            let reason = v.error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
            parts.push(if en {
                format!("This is not a code we can check ({reason}). The anti-counterfeit code has 20 digits.")
            } else {
                format!("无法识别的号码（{reason}）。防伪码为20位数字。")
            });
        }
        Authenticity::Unknown if v.family == Some(crate::codes::Family::Gtin) => {
            parts.push(match (&product, en) {
                (Some(p), false) => format!("这是商品条码（{p}），不能证明单件商品真伪。请输入标签上的防伪码。"),
                (Some(p), true) => format!("This is a product barcode ({p}); it cannot prove an item genuine. Enter the anti-counterfeit code from the label."),
                (None, false) => "这是商品条码，不能证明单件商品真伪。请输入标签上的防伪码。".into(),
                (None, true) => "This is a product barcode; it cannot prove an item genuine. Enter the anti-counterfeit code from the label.".into(),
            });
        }
        Authenticity::Unknown if v.recheck => parts.push(if en {
            "We could not find this code. Please check it and enter it again.".into()
        } else {
            "未查到此码，请核对后重新输入。".into()
        }),
        Authenticity::Unknown => parts.push(if en {
            "This code was not issued by us: the product may be counterfeit. Keep the product and your receipt; you can report it or call 12315.".into()
        } else {
            "此码不是本系统发放的防伪码，商品疑似假冒。请保留商品和购物凭证，可举报或拨打12315。".into()
        }),
        Authenticity::Genuine => {
            let who = match (&product, &enterprise) {
                (Some(p), Some(e)) if en => format!("{p} by {}", e.trim_end_matches('.')),
                (Some(p), Some(e)) => format!("{e} {p}"),
                (Some(p), None) => p.clone(),
                _ => String::new(),
            };
            parts.push(match (v.first_query, en) {
                (true, false) => format!("正品：{who}。首次查询。"),
                (true, true) => format!("Genuine: {who}. First check of this code."),
                (false, false) => format!("正品：{who}。"),
                (false, true) => format!("Genuine: {who}."),
            });
        }
        Authenticity::Suspect => parts.push(match (&product, en) {
            (Some(p), false) => format!("疑似假冒（{p}）。"),
            (Some(p), true) => format!("Suspected counterfeit ({p})."),
            (None, false) => "疑似假冒。".into(),
            (None, true) => "Suspected counterfeit.".into(),
        }),
    }
    for w in &v.warnings {
        parts.push(warning_text(*w, v, lang));
    }
    if v.authenticity == Authenticity::Suspect {
        parts.push(if en {
            "Keep the product and your receipt; you can report it or call 12315.".into()
        } else {
            "请保留商品和购物凭证，可举报或拨打12315。".into()
        });
    }
    if let Some(id) = v.case_id {
        parts.push(if en {
            format!("Case number: {id}.")
        } else {
            format!("案件编号：{id}。")
        });
    }
    parts.join(if en { " " } else { "" })
}

#[cfg(test)]
mod fixed_table_tests {
    use super::*;

    #[test]
    fn every_warning_has_fixed_texts_or_is_built_from_its_figures() {
        let built = [
            Warning::RepeatQuery,
            Warning::ExcessiveQueries,
            Warning::Expired,
            Warning::Recalled,
        ];
        for w in Warning::ALL {
            for form in [Form::Long, Form::Short] {
                for lang in [Lang::Zh, Lang::En] {
                    let t = fixed_warning(w, form, lang);
                    assert_eq!(t.is_none(), built.contains(&w), "{w:?} {form:?} {lang:?}");
                    if let Some(t) = t {
                        assert!(!t.is_empty());
                    }
                }
            }
            if let (Some(long), Some(short)) = (
                fixed_warning(w, Form::Long, Lang::Zh),
                fixed_warning(w, Form::Short, Lang::Zh),
            ) {
                assert!(short.chars().count() <= long.chars().count(), "{w:?}");
            }
        }
        assert_eq!(
            fixed_warning(Warning::Cancelled, Form::Short, Lang::Zh),
            Some("此码已注销。")
        );
    }
}
