//! Where each region goes. Side by side from [`SIDE_BY_SIDE_MIN_WIDTH`]
//! columns, stacked below; nothing below [`MIN_WIDTH`]×[`MIN_HEIGHT`]. The
//! study's picture takes the lower third from [`STUDY_MIN_HEIGHT`] rows, or
//! the whole body when asked for (`e`).
use ratatui::layout::Rect;

pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 12;
pub const SIDE_BY_SIDE_MIN_WIDTH: u16 = 120;
pub const STUDY_MIN_HEIGHT: u16 = 45;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Regions {
    pub panes: [Rect; 2],
    pub n_panes: usize,
    pub strip: Option<Rect>,
    /// The study's picture (energy and time against progress).
    pub study: Option<Rect>,
    pub status: Rect,
}

/// Split the screen; None when it is below the minimum size. With
/// `full_study` the study's picture replaces the panes; `cost_line` gives the
/// comparison strip a line for carbon and cost when the screen is tall.
pub fn regions(area: Rect, n_panes: usize, full_study: bool, cost_line: bool) -> Option<Regions> {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return None;
    }
    let n = n_panes.clamp(1, 2);
    let status = Rect::new(area.x, area.bottom() - 1, area.width, 1);
    let mut body = Rect::new(area.x, area.y, area.width, area.height - 1);
    let strip = if n == 2 {
        // A title line and three lines (four with carbon and cost); two
        // lines when space is short.
        let h = if body.height >= 30 {
            4 + u16::from(cost_line)
        } else if body.height >= 20 {
            3
        } else {
            2
        };
        body.height -= h;
        Some(Rect::new(area.x, body.bottom(), area.width, h))
    } else {
        None
    };
    let mut panes = [Rect::default(); 2];
    if full_study {
        return Some(Regions {
            panes,
            n_panes: 0,
            strip,
            study: Some(body),
            status,
        });
    }
    let study = (area.height >= STUDY_MIN_HEIGHT).then(|| {
        let h = body.height / 3;
        body.height -= h;
        Rect::new(area.x, body.bottom(), area.width, h)
    });
    if n == 1 {
        panes[0] = body;
    } else if area.width >= SIDE_BY_SIDE_MIN_WIDTH {
        let left = body.width / 2;
        panes[0] = Rect::new(body.x, body.y, left, body.height);
        panes[1] = Rect::new(body.x + left, body.y, body.width - left, body.height);
    } else {
        let top = body.height / 2;
        panes[0] = Rect::new(body.x, body.y, body.width, top);
        panes[1] = Rect::new(body.x, body.y + top, body.width, body.height - top);
    }
    Some(Regions {
        panes,
        n_panes: n,
        strip,
        study,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_by_side_from_120_columns_and_stacked_below() {
        let r = regions(Rect::new(0, 0, 120, 40), 2, false, false).unwrap();
        assert_eq!(r.panes[0].y, r.panes[1].y);
        assert!(r.study.is_none());
        let r = regions(Rect::new(0, 0, 119, 40), 2, false, false).unwrap();
        assert_eq!(r.panes[0].x, r.panes[1].x);
        assert!(regions(Rect::new(0, 0, 39, 40), 2, false, false).is_none());
        assert!(regions(Rect::new(0, 0, 80, 11), 2, false, false).is_none());
        let r = regions(Rect::new(0, 0, 40, 12), 2, false, false).unwrap();
        assert_eq!(r.status.y, 11);
        // Tall: the study below the panes; asked for: instead of them.
        let r = regions(Rect::new(0, 0, 200, 50), 2, false, false).unwrap();
        let st = r.study.unwrap();
        assert_eq!(st.y, r.panes[0].bottom());
        assert_eq!(st.bottom(), r.strip.unwrap().y);
        let r = regions(Rect::new(0, 0, 80, 24), 2, true, false).unwrap();
        assert_eq!(r.n_panes, 0);
        assert_eq!(r.study.unwrap().y, 0);
        // Carbon and cost: one more strip line when tall, none when short.
        let with = regions(Rect::new(0, 0, 120, 40), 2, false, true).unwrap();
        assert_eq!(with.strip.unwrap().height, 5);
        let with = regions(Rect::new(0, 0, 80, 24), 2, false, true).unwrap();
        assert_eq!(with.strip.unwrap().height, 3);
    }
}
