//! Inline SVG charts rendered on the server (no chart library to download).

use leptos::prelude::*;
use portcullis_types::DayCount;

/// One bar: its count, the text under it (shown for every `label_every`th
/// bar) and its tooltip.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub count: i64,
    pub label: String,
    pub title: String,
}

impl From<DayCount> for Bar {
    fn from(d: DayCount) -> Self {
        Self {
            count: d.count,
            label: d.day.get(5..).unwrap_or(&d.day).to_owned(),
            title: format!("{}: {} events", d.day, d.count),
        }
    }
}

/// A bar chart of counts (events per day, per bucket of the audit
/// timeline), labelled under every `label_every`th bar.
#[component]
pub fn BarChart(
    data: Vec<Bar>,
    #[prop(into)] label: String,
    #[prop(default = 2)] label_every: usize,
) -> impl IntoView {
    const W: f64 = 640.0;
    const H: f64 = 160.0;
    const PAD_B: f64 = 22.0;
    let max = data.iter().map(|d| d.count).max().unwrap_or(0).max(1) as f64;
    let n = data.len().max(1) as f64;
    let slot = W / n;
    let bar_w = (slot * 0.62).max(2.0);
    let total: i64 = data.iter().map(|d| d.count).sum();
    let every = label_every.max(1);
    let bars = data
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let h = ((d.count as f64) / max * (H - PAD_B - 8.0)).max(if d.count > 0 { 2.0 } else { 0.0 });
            let x = (i as f64) * slot + (slot - bar_w) / 2.0;
            let y = H - PAD_B - h;
            view! {
                <g>
                    <title>{d.title}</title>
                    <rect x=format!("{x:.1}") y=format!("{:.1}", H - PAD_B - 1.0) width=format!("{bar_w:.1}") height="1"
                        class="fill-zinc-200 dark:fill-zinc-700"/>
                    <rect x=format!("{x:.1}") y=format!("{y:.1}") width=format!("{bar_w:.1}") height=format!("{h:.1}")
                        rx="2" class="fill-indigo-500 dark:fill-indigo-400"/>
                    {(i % every == 0).then(|| view! {
                        <text x=format!("{:.1}", x + bar_w / 2.0) y=format!("{:.1}", H - 6.0)
                            text-anchor="middle" class="fill-zinc-500 text-[10px]">{d.label}</text>
                    })}
                </g>
            }
        })
        .collect_view();
    view! {
        <figure>
            <svg viewBox=format!("0 0 {W} {H}") class="w-full h-40" role="img"
                aria-label=format!("{label}: {total} in total")>
                {bars}
            </svg>
        </figure>
    }
}
