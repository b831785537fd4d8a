//! Where each region goes. Side by side from [`SIDE_BY_SIDE_MIN_WIDTH`]
//! columns, stacked below; nothing below [`MIN_WIDTH`]×[`MIN_HEIGHT`].
use ratatui::layout::Rect;

pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 12;
pub const SIDE_BY_SIDE_MIN_WIDTH: u16 = 120;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Regions {
    pub panes: [Rect; 2],
    pub n_panes: usize,
    pub strip: Option<Rect>,
    pub status: Rect,
}

/// Split the screen; None when it is below the minimum size.
pub fn regions(area: Rect, n_panes: usize) -> Option<Regions> {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return None;
    }
    let n = n_panes.clamp(1, 2);
    let status = Rect::new(area.x, area.bottom() - 1, area.width, 1);
    let mut body = Rect::new(area.x, area.y, area.width, area.height - 1);
    let strip = if n == 2 {
        // A title line and three lines; two lines when space is short.
        let h = if body.height >= 30 {
            4
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
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_by_side_from_120_columns_and_stacked_below() {
        let r = regions(Rect::new(0, 0, 120, 40), 2).unwrap();
        assert_eq!(r.panes[0].y, r.panes[1].y);
        let r = regions(Rect::new(0, 0, 119, 40), 2).unwrap();
        assert_eq!(r.panes[0].x, r.panes[1].x);
        assert!(regions(Rect::new(0, 0, 39, 40), 2).is_none());
        assert!(regions(Rect::new(0, 0, 80, 11), 2).is_none());
        let r = regions(Rect::new(0, 0, 40, 12), 2).unwrap();
        assert_eq!(r.status.y, 11);
    }
}
