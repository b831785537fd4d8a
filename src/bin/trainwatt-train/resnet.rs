//! ResNet18 (He et al. 2015) with torchvision's layout and parameter names
//! (`conv1`, `bn1`, `layer1.0.conv1`, …, `fc`), in two variants:
//! - `resnet18`: the ImageNet stem (7x7 stride-2 convolution and a 3x3 max-pool);
//! - `resnet18-cifar`: a 3x3 stride-1 stem without max-pool, for 32x32 images.
//!
//! The forward pass uses tch's fallible (`f_`) operations, so an allocation
//! failure inside libtorch comes back as an error (recorded as an
//! out-of-memory run status), never as a panic.
use tch::nn::{self, init, Init};
use tch::{TchError, Tensor};

use trainwatt::train::ModelKind;

/// torch.nn.BatchNorm2d's defaults.
const BN_MOMENTUM: f64 = 0.1;
const BN_EPS: f64 = 1e-5;

#[derive(Debug)]
struct ConvBn {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
    stride: i64,
    padding: i64,
}

impl ConvBn {
    fn new(
        conv_path: nn::Path,
        bn_path: nn::Path,
        c_in: i64,
        c_out: i64,
        ksize: i64,
        stride: i64,
    ) -> ConvBn {
        // torchvision: kaiming_normal_(fan_out, relu) for convolutions, BN weight 1, bias 0.
        let cfg = nn::ConvConfig {
            stride,
            padding: ksize / 2,
            bias: false,
            ws_init: Init::Kaiming {
                dist: init::NormalOrUniform::Normal,
                fan: init::FanInOut::FanOut,
                non_linearity: init::NonLinearity::ReLU,
            },
            ..Default::default()
        };
        let bn_cfg = nn::BatchNormConfig {
            ws_init: Init::Const(1.0),
            bs_init: Init::Const(0.0),
            eps: BN_EPS,
            momentum: BN_MOMENTUM,
            ..Default::default()
        };
        ConvBn {
            conv: nn::conv2d(conv_path, c_in, c_out, ksize, cfg),
            bn: nn::batch_norm2d(bn_path, c_out, bn_cfg),
            stride,
            padding: ksize / 2,
        }
    }

    fn forward(&self, xs: &Tensor, train: bool) -> Result<Tensor, TchError> {
        let ys = xs.f_conv2d(
            &self.conv.ws,
            None::<&Tensor>,
            [self.stride, self.stride],
            [self.padding, self.padding],
            [1, 1],
            1,
        )?;
        ys.f_batch_norm(
            self.bn.ws.as_ref(),
            self.bn.bs.as_ref(),
            Some(&self.bn.running_mean),
            Some(&self.bn.running_var),
            train,
            BN_MOMENTUM,
            BN_EPS,
            true,
        )
    }
}

#[derive(Debug)]
struct BasicBlock {
    a: ConvBn,
    b: ConvBn,
    downsample: Option<ConvBn>,
}

impl BasicBlock {
    fn new(p: nn::Path, c_in: i64, c_out: i64, stride: i64) -> BasicBlock {
        let downsample = (stride != 1 || c_in != c_out).then(|| {
            let d = &p / "downsample";
            ConvBn::new(&d / "0", &d / "1", c_in, c_out, 1, stride)
        });
        BasicBlock {
            a: ConvBn::new(&p / "conv1", &p / "bn1", c_in, c_out, 3, stride),
            b: ConvBn::new(&p / "conv2", &p / "bn2", c_out, c_out, 3, 1),
            downsample,
        }
    }

    fn forward(&self, xs: &Tensor, train: bool) -> Result<Tensor, TchError> {
        let mut ys = self.a.forward(xs, train)?;
        let _ = ys.f_relu_()?;
        let mut ys = self.b.forward(&ys, train)?;
        let _ = match &self.downsample {
            Some(d) => ys.f_add_(&d.forward(xs, train)?)?,
            None => ys.f_add_(xs)?,
        };
        let _ = ys.f_relu_()?;
        Ok(ys)
    }
}

/// A ResNet18 whose parameters live in a [`nn::VarStore`].
#[derive(Debug)]
pub struct ResNet18 {
    kind: ModelKind,
    stem: ConvBn,
    blocks: Vec<BasicBlock>,
    fc: nn::Linear,
}

impl ResNet18 {
    /// Build the network under `p` (usually `vs.root()`) for `classes` outputs.
    pub fn new(p: &nn::Path, kind: ModelKind, classes: i64) -> ResNet18 {
        let stem = match kind {
            ModelKind::Resnet18 => ConvBn::new(p / "conv1", p / "bn1", 3, 64, 7, 2),
            ModelKind::Resnet18Cifar => ConvBn::new(p / "conv1", p / "bn1", 3, 64, 3, 1),
        };
        let mut blocks = Vec::with_capacity(8);
        let mut c_in = 64;
        for (i, (c_out, stride)) in [(64, 1), (128, 2), (256, 2), (512, 2)]
            .into_iter()
            .enumerate()
        {
            let layer = p / format!("layer{}", i + 1);
            blocks.push(BasicBlock::new(&layer / "0", c_in, c_out, stride));
            blocks.push(BasicBlock::new(&layer / "1", c_out, c_out, 1));
            c_in = c_out;
        }
        let fc = nn::linear(p / "fc", 512, classes, Default::default());
        ResNet18 {
            kind,
            stem,
            blocks,
            fc,
        }
    }

    /// Logits for a batch of `N x 3 x H x W` images.
    pub fn forward(&self, xs: &Tensor, train: bool) -> Result<Tensor, TchError> {
        let mut ys = self.stem.forward(xs, train)?;
        let _ = ys.f_relu_()?;
        if self.kind == ModelKind::Resnet18 {
            ys = ys.f_max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false)?;
        }
        for b in &self.blocks {
            ys = b.forward(&ys, train)?;
        }
        ys.f_adaptive_avg_pool2d([1, 1])?
            .f_flatten(1, -1)?
            .f_linear(&self.fc.ws, self.fc.bs.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn both_variants_have_resnet18_parameters_and_shapes() {
        for (kind, side) in [(ModelKind::Resnet18Cifar, 32), (ModelKind::Resnet18, 64)] {
            let (vs, net) = crate::random::with_torch_seed(0, || {
                let vs = nn::VarStore::new(Device::Cpu);
                let net = ResNet18::new(&vs.root(), kind, 10);
                (vs, net)
            });
            let params: i64 = vs
                .trainable_variables()
                .iter()
                .map(|t| t.numel() as i64)
                .sum();
            // torchvision's resnet18 with 10 classes has 11,181,642 parameters;
            // the CIFAR stem's 3x3 convolution has 9,408 - 1,728 fewer.
            let expect = match kind {
                ModelKind::Resnet18 => 11_181_642,
                ModelKind::Resnet18Cifar => 11_181_642 - 9_408 + 1_728,
            };
            assert_eq!(params, expect, "{kind:?}");
            assert!(vs.variables().contains_key("layer4.1.bn2.running_var"));
            let x = Tensor::zeros([2, 3, side, side], (Kind::Float, Device::Cpu));
            let y = net.forward(&x, false).unwrap();
            assert_eq!(y.size(), vec![2, 10]);
        }
    }
}
