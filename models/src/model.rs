//! The LRA encoder and classifiers of the official Skyformer code
//! (`models/model_transformer.py` and `models/model_LRA.py` in
//! github.com/pkuzengqi/Skyformer). Every struct is built from `(config, vb)` and
//! loads its tensors under the official module path, so tensor names equal the keys
//! of the official `state_dict` (`model.transformer_0.mha.W_q.weight`, …).

use std::fmt;

use candle_core::{D, DType, Result, Tensor};
use candle_nn::VarBuilder;

use crate::ForwardContext;
use crate::attention::AttentionKernel;
use crate::config::{Config, PoolingMode};
use crate::nn::{self, Dropout, Embedding, LayerNorm, Linear, NamedTensor, join};
use crate::ops;
use crate::summary::{ModuleRepr, ReprStyle};

/// Standard deviation of the official embedding initialisation.
const EMBEDDING_INIT_STD: f64 = 0.02;

fn build_error(err: crate::Error) -> candle_core::Error {
    candle_core::Error::Msg(err.to_string())
}

/// Token plus learned position embeddings, then dropout. Nothing is scaled by √D and
/// there is no embedding LayerNorm.
#[derive(Debug, Clone)]
pub struct Embeddings {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    dropout: Dropout,
}

impl Embeddings {
    pub fn new(config: &Config, vb: VarBuilder) -> Result<Self> {
        let dim = config.embedding_dim;
        let word_embeddings = Embedding::new(
            config.vocab_size,
            dim,
            EMBEDDING_INIT_STD,
            vb.pp("word_embeddings"),
        )?;
        let position_embeddings = Embedding::new(
            config.max_seq_len,
            dim,
            EMBEDDING_INIT_STD,
            vb.pp("position_embeddings"),
        )?;
        Ok(Self {
            word_embeddings,
            position_embeddings,
            dropout: Dropout::new(config.dropout_prob),
        })
    }

    /// `input_ids` [b, n] (u32) → [b, n, D].
    pub fn forward(&self, input_ids: &Tensor, ctx: &mut ForwardContext) -> Result<Tensor> {
        let (_, n) = input_ids.dims2()?;
        let xs = self.word_embeddings.forward(input_ids)?;
        let xs = xs.broadcast_add(&self.position_embeddings.first_rows(n)?)?;
        self.dropout.forward(&xs, ctx)
    }

    fn visit_params(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        self.word_embeddings
            .visit_params(&join(prefix, "word_embeddings"), out);
        self.position_embeddings
            .visit_params(&join(prefix, "position_embeddings"), out);
    }

    fn repr(&self) -> ModuleRepr {
        ModuleRepr::node(
            "Embeddings",
            vec![
                ("word_embeddings".into(), self.word_embeddings.repr()),
                (
                    "position_embeddings".into(),
                    self.position_embeddings.repr(),
                ),
                ("dropout".into(), self.dropout.repr()),
            ],
        )
    }
}

/// Multi-head attention: projections `W_q`, `W_k`, `W_v`, the kernel, and the output
/// projection `ff`. Heads take consecutive blocks of `head_dim` feature columns.
#[derive(Debug, Clone)]
pub struct Attention {
    w_q: Linear,
    w_k: Linear,
    w_v: Linear,
    attn: AttentionKernel,
    ff: Linear,
    num_head: usize,
    head_dim: usize,
}

impl Attention {
    pub fn new(config: &Config, vb: VarBuilder) -> Result<Self> {
        let (dim, inner) = (config.transformer_dim, config.num_head * config.head_dim);
        Ok(Self {
            w_q: Linear::new(dim, inner, vb.pp("W_q"))?,
            w_k: Linear::new(dim, inner, vb.pp("W_k"))?,
            w_v: Linear::new(dim, inner, vb.pp("W_v"))?,
            attn: AttentionKernel::new(config).map_err(build_error)?,
            ff: Linear::new(inner, dim, vb.pp("ff"))?,
            num_head: config.num_head,
            head_dim: config.head_dim,
        })
    }

    pub fn kernel(&self) -> &AttentionKernel {
        &self.attn
    }

    /// [b, n, h·p] → [b, h, n, p].
    fn split_heads(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, n, _) = xs.dims3()?;
        xs.reshape((b, n, self.num_head, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// [b, h, n, p] → [b, n, h·p].
    fn combine_heads(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, _, n, _) = xs.dims4()?;
        xs.transpose(1, 2)?
            .reshape((b, n, self.num_head * self.head_dim))
    }

    /// `xs` [b, n, D], `mask` [b, n] (1 for tokens, 0 for padding) → [b, n, D].
    pub fn forward(&self, xs: &Tensor, mask: &Tensor, ctx: &mut ForwardContext) -> Result<Tensor> {
        // Softmax and Skyformer run as one fused block: projections, heads and kernel.
        if let Some(kernel) = self.draw_block_kernel(mask, xs.dim(1)?, ctx)? {
            let (w_qkv, b_qkv) = self.stacked_projections()?;
            let attn = ops::attention_block(
                xs,
                &w_qkv,
                &b_qkv,
                mask,
                self.num_head,
                kernel.as_block_kernel(),
            )?;
            return self.ff.forward(&attn);
        }
        self.forward_unfused(xs, mask, ctx)
    }

    /// Draws the random inputs of the fused kernels; `None` for kernels without a fused block.
    fn draw_block_kernel(
        &self,
        mask: &Tensor,
        n: usize,
        ctx: &mut ForwardContext,
    ) -> Result<Option<BlockKernelChoice>> {
        Ok(match &self.attn {
            AttentionKernel::Softmax(attn) => Some(BlockKernelChoice::Softmax {
                scale: attn.scale(),
                dropout: attn.draw_dropout(ctx),
            }),
            AttentionKernel::Skyformer(attn) => Some(BlockKernelChoice::Skyformer(
                attn.draw_landmarks(mask, n, ctx)?,
            )),
            _ => None,
        })
    }

    /// W_q, W_k, W_v stacked into [3·h·p, D], and their biases into [3·h·p].
    fn stacked_projections(&self) -> Result<(Tensor, Tensor)> {
        let w_qkv = Tensor::cat(
            &[self.w_q.weight(), self.w_k.weight(), self.w_v.weight()],
            0,
        )?;
        let b_qkv = Tensor::cat(&[self.w_q.bias(), self.w_k.bias(), self.w_v.bias()], 0)?;
        Ok((w_qkv, b_qkv))
    }

    /// Projections, head split, kernel and merge as separate operations.
    fn forward_unfused(
        &self,
        xs: &Tensor,
        mask: &Tensor,
        ctx: &mut ForwardContext,
    ) -> Result<Tensor> {
        let q = self.split_heads(&self.w_q.forward(xs)?)?;
        let k = self.split_heads(&self.w_k.forward(xs)?)?;
        let v = self.split_heads(&self.w_v.forward(xs)?)?;

        // The kernels always run in float32, as the official code disables autocast there.
        let attn = self.attn.forward(&q, &k, &v, mask, ctx)?;

        let attn = self.combine_heads(&attn)?;
        self.ff.forward(&attn)
    }

    fn visit_params(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        self.w_q.visit_params(&join(prefix, "W_q"), out);
        self.w_k.visit_params(&join(prefix, "W_k"), out);
        self.w_v.visit_params(&join(prefix, "W_v"), out);
        self.ff.visit_params(&join(prefix, "ff"), out);
    }

    fn repr(&self) -> ModuleRepr {
        ModuleRepr::node(
            "Attention",
            vec![
                ("W_q".into(), self.w_q.repr()),
                ("W_k".into(), self.w_k.repr()),
                ("W_v".into(), self.w_v.repr()),
                ("attn".into(), self.attn.repr()),
                ("ff".into(), self.ff.repr()),
            ],
        )
    }
}

/// The kernel of a fused attention block, with its random draws already made.
enum BlockKernelChoice {
    Softmax {
        scale: f64,
        dropout: Option<(f64, u64)>,
    },
    Skyformer(crate::attention::Landmarks),
}

impl BlockKernelChoice {
    fn as_block_kernel(&self) -> ops::BlockKernel<'_> {
        match self {
            BlockKernelChoice::Softmax { scale, dropout } => ops::BlockKernel::Softmax {
                scale: *scale,
                dropout: *dropout,
            },
            BlockKernelChoice::Skyformer(landmarks) => ops::BlockKernel::Skyformer { landmarks },
        }
    }
}

/// A pre-norm Transformer layer:
/// Y = X + Dropout(MHA(LN1(X))), X' = Y + Dropout(W2 · Dropout(GELU(W1 · LN2(Y)))).
#[derive(Debug, Clone)]
pub struct TransformerLayer {
    norm1: LayerNorm,
    mha: Attention,
    dropout1: Dropout,
    norm2: LayerNorm,
    /// `mlpblock.0`: D → hidden.
    mlp_in: Linear,
    /// `mlpblock.2`, after the GELU.
    mlp_dropout_hidden: Dropout,
    /// `mlpblock.3`: hidden → D.
    mlp_out: Linear,
    /// `mlpblock.4`, before the residual add.
    mlp_dropout_out: Dropout,
}

impl TransformerLayer {
    pub fn new(config: &Config, vb: VarBuilder) -> Result<Self> {
        let (dim, hidden) = (config.transformer_dim, config.transformer_hidden_dim);
        let mlp = vb.pp("mlpblock");
        Ok(Self {
            norm1: LayerNorm::new(dim, vb.pp("norm1"))?,
            mha: Attention::new(config, vb.pp("mha"))?,
            dropout1: Dropout::new(config.dropout_prob),
            norm2: LayerNorm::new(dim, vb.pp("norm2"))?,
            mlp_in: Linear::new(dim, hidden, mlp.pp("0"))?,
            mlp_dropout_hidden: Dropout::new(config.dropout_prob),
            mlp_out: Linear::new(hidden, dim, mlp.pp("3"))?,
            mlp_dropout_out: Dropout::new(config.dropout_prob),
        })
    }

    pub fn attention(&self) -> &Attention {
        &self.mha
    }

    pub fn forward(&self, xs: &Tensor, mask: &Tensor, ctx: &mut ForwardContext) -> Result<Tensor> {
        // With softmax or Skyformer the whole residual sub-layer is one operation.
        let xs = match self.mha.draw_block_kernel(mask, xs.dim(1)?, ctx)? {
            Some(kernel) => {
                let dropout_p = self.dropout1.p();
                let dropout =
                    (ctx.is_training() && dropout_p > 0.0).then(|| (dropout_p, ctx.next_seed()));
                let (w_qkv, b_qkv) = self.mha.stacked_projections()?;
                ops::attention_sublayer(
                    xs,
                    self.norm1.params(),
                    &w_qkv,
                    &b_qkv,
                    self.mha.ff.weight(),
                    self.mha.ff.bias(),
                    mask,
                    self.mha.num_head,
                    kernel.as_block_kernel(),
                    dropout,
                )?
            }
            None => {
                let attn = self
                    .mha
                    .forward_unfused(&self.norm1.forward(xs)?, mask, ctx)?;
                (self.dropout1.forward(&attn, ctx)? + xs)?
            }
        };

        // One fused operation; the dropout seeds are drawn in the order of the layers.
        let dropout_p = self.mlp_dropout_hidden.p();
        let dropout = (ctx.is_training() && dropout_p > 0.0).then(|| ops::MlpDropout {
            p: dropout_p,
            hidden_seed: ctx.next_seed(),
            output_seed: ctx.next_seed(),
        });
        ops::mlp_sublayer(
            &xs,
            self.norm2.params(),
            self.mlp_in.weight(),
            self.mlp_in.bias(),
            self.mlp_out.weight(),
            self.mlp_out.bias(),
            dropout,
        )
    }

    fn visit_params(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        self.norm1.visit_params(&join(prefix, "norm1"), out);
        self.mha.visit_params(&join(prefix, "mha"), out);
        self.norm2.visit_params(&join(prefix, "norm2"), out);
        self.mlp_in.visit_params(&join(prefix, "mlpblock.0"), out);
        self.mlp_out.visit_params(&join(prefix, "mlpblock.3"), out);
    }

    fn repr(&self, style: ReprStyle) -> ModuleRepr {
        let mlpblock = ModuleRepr::node(
            "Sequential",
            vec![
                ("0".into(), self.mlp_in.repr()),
                ("1".into(), nn::gelu_repr(style)),
                ("2".into(), self.mlp_dropout_hidden.repr()),
                ("3".into(), self.mlp_out.repr()),
                ("4".into(), self.mlp_dropout_out.repr()),
            ],
        );
        ModuleRepr::node(
            "TransformerLayer",
            vec![
                ("norm1".into(), self.norm1.repr(style)),
                ("mha".into(), self.mha.repr()),
                ("dropout1".into(), self.dropout1.repr()),
                ("norm2".into(), self.norm2.repr(style)),
                ("mlpblock".into(), mlpblock),
            ],
        )
    }
}

/// The outputs of every stage of the encoder.
#[derive(Debug, Clone)]
pub struct EncoderOutput {
    /// After embeddings and embedding dropout, [b, n, D].
    pub embeddings: Tensor,
    /// The output of each Transformer layer, [b, n, D] (padded rows are not zeroed).
    pub layers: Vec<Tensor>,
    /// LN_final(X) ⊙ mask, [b, n, D]: padded rows are exactly 0.
    pub output: Tensor,
}

/// The encoder: embeddings, `num_layers` Transformer layers with separate weights and
/// a final LayerNorm whose output is multiplied by the mask.
#[derive(Debug, Clone)]
pub struct Model {
    embeddings: Embeddings,
    layers: Vec<TransformerLayer>,
    norm: LayerNorm,
}

impl Model {
    pub fn new(config: &Config, vb: VarBuilder) -> Result<Self> {
        config.validate().map_err(build_error)?;
        let embeddings = Embeddings::new(config, vb.pp("embeddings"))?;
        let layers = (0..config.num_layers)
            .map(|i| TransformerLayer::new(config, vb.pp(format!("transformer_{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let norm = LayerNorm::new(config.transformer_dim, vb.pp("norm"))?;
        Ok(Self {
            embeddings,
            layers,
            norm,
        })
    }

    pub fn layers(&self) -> &[TransformerLayer] {
        &self.layers
    }

    /// `input_ids` [b, n] (u32) and `mask` [b, n] (f32) → [b, n, D].
    pub fn forward(
        &self,
        input_ids: &Tensor,
        mask: &Tensor,
        ctx: &mut ForwardContext,
    ) -> Result<Tensor> {
        Ok(self.forward_all(input_ids, mask, ctx)?.output)
    }

    /// Like [`Model::forward`], returning every stage's output.
    pub fn forward_all(
        &self,
        input_ids: &Tensor,
        mask: &Tensor,
        ctx: &mut ForwardContext,
    ) -> Result<EncoderOutput> {
        let mask = mask.to_dtype(DType::F32)?;
        let embeddings = self.embeddings.forward(input_ids, ctx)?;

        let mut xs = embeddings.clone();
        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            xs = layer.forward(&xs, &mask, ctx)?;
            layers.push(xs.clone());
        }

        let output = self
            .norm
            .forward(&xs)?
            .broadcast_mul(&mask.unsqueeze(D::Minus1)?)?;
        Ok(EncoderOutput {
            embeddings,
            layers,
            output,
        })
    }

    fn visit_params(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        self.embeddings
            .visit_params(&join(prefix, "embeddings"), out);
        for (i, layer) in self.layers.iter().enumerate() {
            layer.visit_params(&join(prefix, &format!("transformer_{i}")), out);
        }
        self.norm.visit_params(&join(prefix, "norm"), out);
    }

    fn repr(&self, style: ReprStyle) -> ModuleRepr {
        let mut children = vec![("embeddings".to_string(), self.embeddings.repr())];
        for (i, layer) in self.layers.iter().enumerate() {
            children.push((format!("transformer_{i}"), layer.repr(style)));
        }
        children.push(("norm".to_string(), self.norm.repr(style)));
        ModuleRepr::node("Model", children)
    }
}

/// Reduces [b, n, D] to [b, D]: the mean over all n positions (padding included) or
/// the row at position 0.
pub fn pooling(xs: &Tensor, mode: PoolingMode) -> Result<Tensor> {
    match mode {
        PoolingMode::Mean => nn::mean_over_positions(xs),
        PoolingMode::Cls => xs.narrow(1, 0, 1)?.squeeze(1),
    }
}

/// CLS preprocessing: shifts ids and mask right by one, dropping the last position,
/// and puts id `vocab_size − 1` with mask 1 at position 0.
pub fn append_cls(
    input_ids: &Tensor,
    mask: &Tensor,
    vocab_size: usize,
) -> Result<(Tensor, Tensor)> {
    let (b, n) = input_ids.dims2()?;
    let cls_ids = Tensor::full((vocab_size - 1) as u32, (b, 1), input_ids.device())?
        .to_dtype(input_ids.dtype())?;
    let cls_mask = Tensor::ones((b, 1), mask.dtype(), mask.device())?;
    let ids = Tensor::cat(&[&cls_ids, &input_ids.narrow(1, 0, n - 1)?], 1)?;
    let mask = Tensor::cat(&[&cls_mask, &mask.narrow(1, 0, n - 1)?], 1)?;
    Ok((ids, mask))
}

/// Classifier head: logits = W_b · ReLU(W_a · pooled + a) + c.
#[derive(Debug, Clone)]
pub struct SCHead {
    hidden: Linear,
    output: Linear,
}

impl SCHead {
    pub fn new(config: &Config, vb: VarBuilder) -> Result<Self> {
        let mlp = vb.pp("mlpblock");
        Ok(Self {
            hidden: Linear::new(
                config.transformer_dim,
                config.transformer_hidden_dim,
                mlp.pp("0"),
            )?,
            output: Linear::new(
                config.transformer_hidden_dim,
                config.num_classes,
                mlp.pp("2"),
            )?,
        })
    }

    /// `pooled` [b, D] → logits [b, classes].
    pub fn forward(&self, pooled: &Tensor) -> Result<Tensor> {
        self.output.forward(&self.hidden.forward(pooled)?.relu()?)
    }

    fn visit_params(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        self.hidden.visit_params(&join(prefix, "mlpblock.0"), out);
        self.output.visit_params(&join(prefix, "mlpblock.2"), out);
    }

    fn repr(&self, name: &str) -> ModuleRepr {
        let mlpblock = ModuleRepr::node(
            "Sequential",
            vec![
                ("0".into(), self.hidden.repr()),
                ("1".into(), nn::relu_repr()),
                ("2".into(), self.output.repr()),
            ],
        );
        ModuleRepr::node(name, vec![("mlpblock".into(), mlpblock)])
    }
}

/// Dual classifier head: with pooled u and v, features [u, v, u⊙v, u−v] go through
/// Linear(4D → hidden), ReLU and Linear(hidden → classes).
#[derive(Debug, Clone)]
pub struct SCHeadDual {
    head: SCHead,
}

impl SCHeadDual {
    pub fn new(config: &Config, vb: VarBuilder) -> Result<Self> {
        let mlp = vb.pp("mlpblock");
        let head = SCHead {
            hidden: Linear::new(
                4 * config.transformer_dim,
                config.transformer_hidden_dim,
                mlp.pp("0"),
            )?,
            output: Linear::new(
                config.transformer_hidden_dim,
                config.num_classes,
                mlp.pp("2"),
            )?,
        };
        Ok(Self { head })
    }

    pub fn forward(&self, pooled_0: &Tensor, pooled_1: &Tensor) -> Result<Tensor> {
        let features = Tensor::cat(
            &[
                pooled_0,
                pooled_1,
                &(pooled_0 * pooled_1)?,
                &(pooled_0 - pooled_1)?,
            ],
            D::Minus1,
        )?;
        self.head.forward(&features)
    }
}

/// Logits with the per-example loss and accuracy the official `ModelForSC` returns.
#[derive(Debug, Clone)]
pub struct ClassifierOutput {
    /// [b, classes].
    pub logits: Tensor,
    /// Cross-entropy per example, [b].
    pub loss: Tensor,
    /// 1 where argmax(logits) = label, else 0, [b].
    pub accuracy: Tensor,
}

fn classifier_output(logits: Tensor, labels: &Tensor) -> Result<ClassifierOutput> {
    let labels = labels.to_dtype(DType::U32)?;
    let loss = nn::cross_entropy_per_example(&logits, &labels)?;
    let accuracy = logits
        .argmax(D::Minus1)?
        .eq(&labels)?
        .to_dtype(DType::F32)?;
    Ok(ClassifierOutput {
        logits,
        loss,
        accuracy,
    })
}

/// Sequence classification: encoder, pooling and [`SCHead`].
#[derive(Debug, Clone)]
pub struct ModelForSC {
    model: Model,
    seq_classifer: SCHead,
    pooling_mode: PoolingMode,
    vocab_size: usize,
}

/// Everything [`ModelForSC::forward_detailed`] computes.
#[derive(Debug, Clone)]
pub struct SCOutput {
    pub encoder: EncoderOutput,
    /// [b, D].
    pub pooled: Tensor,
    /// [b, classes].
    pub logits: Tensor,
}

impl ModelForSC {
    pub fn new(config: &Config, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            model: Model::new(config, vb.pp("model"))?,
            // The official attribute name is misspelt; tensor names keep it.
            seq_classifer: SCHead::new(config, vb.pp("seq_classifer"))?,
            pooling_mode: config.pooling_mode,
            vocab_size: config.vocab_size,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// `input_ids` [b, n] (u32), `mask` [b, n] (f32) → logits [b, classes].
    pub fn forward(
        &self,
        input_ids: &Tensor,
        mask: &Tensor,
        ctx: &mut ForwardContext,
    ) -> Result<Tensor> {
        Ok(self.forward_detailed(input_ids, mask, ctx)?.logits)
    }

    pub fn forward_detailed(
        &self,
        input_ids: &Tensor,
        mask: &Tensor,
        ctx: &mut ForwardContext,
    ) -> Result<SCOutput> {
        let (input_ids, mask) = match self.pooling_mode {
            PoolingMode::Cls => append_cls(input_ids, mask, self.vocab_size)?,
            PoolingMode::Mean => (input_ids.clone(), mask.clone()),
        };
        let encoder = self.model.forward_all(&input_ids, &mask, ctx)?;
        let pooled = pooling(&encoder.output, self.pooling_mode)?;
        let logits = self.seq_classifer.forward(&pooled)?;
        Ok(SCOutput {
            encoder,
            pooled,
            logits,
        })
    }

    /// Logits, per-example cross-entropy and accuracy for integer `labels` [b].
    pub fn forward_with_labels(
        &self,
        input_ids: &Tensor,
        mask: &Tensor,
        labels: &Tensor,
        ctx: &mut ForwardContext,
    ) -> Result<ClassifierOutput> {
        classifier_output(self.forward(input_ids, mask, ctx)?, labels)
    }

    /// Parameters in the order of PyTorch's `named_parameters()`, under their official names.
    pub fn named_parameters(&self) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        self.model.visit_params("model", &mut out);
        self.seq_classifer.visit_params("seq_classifer", &mut out);
        out
    }

    /// Total number of parameter elements.
    pub fn num_parameters(&self) -> usize {
        self.named_parameters()
            .iter()
            .map(|(_, t)| t.elem_count())
            .sum()
    }

    /// Renders the printed module tree in the given PyTorch version's style.
    pub fn summary(&self, style: ReprStyle) -> String {
        ModuleRepr::node(
            "ModelForSC",
            vec![
                ("model".into(), self.model.repr(style)),
                ("seq_classifer".into(), self.seq_classifer.repr("SCHead")),
            ],
        )
        .render()
    }
}

/// Prints the tree as torch 1.8's `print(model)` does; `{:#}` uses torch 2.x's style.
impl fmt::Display for ModelForSC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let style = if f.alternate() {
            ReprStyle::Torch2
        } else {
            ReprStyle::Torch18
        };
        f.write_str(&self.summary(style))
    }
}

/// Pair classification (LRA retrieval): both documents go through the same encoder.
#[derive(Debug, Clone)]
pub struct ModelForSCDual {
    model: Model,
    seq_classifer: SCHeadDual,
    pooling_mode: PoolingMode,
    vocab_size: usize,
}

impl ModelForSCDual {
    pub fn new(config: &Config, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            model: Model::new(config, vb.pp("model"))?,
            seq_classifer: SCHeadDual::new(config, vb.pp("seq_classifer"))?,
            pooling_mode: config.pooling_mode,
            vocab_size: config.vocab_size,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Logits [b, classes] for the document pairs (`input_ids_0`, `input_ids_1`).
    pub fn forward(
        &self,
        input_ids_0: &Tensor,
        input_ids_1: &Tensor,
        mask_0: &Tensor,
        mask_1: &Tensor,
        ctx: &mut ForwardContext,
    ) -> Result<Tensor> {
        let encode = |ids: &Tensor, mask: &Tensor, ctx: &mut ForwardContext| -> Result<Tensor> {
            let (ids, mask) = match self.pooling_mode {
                PoolingMode::Cls => append_cls(ids, mask, self.vocab_size)?,
                PoolingMode::Mean => (ids.clone(), mask.clone()),
            };
            pooling(&self.model.forward(&ids, &mask, ctx)?, self.pooling_mode)
        };
        let pooled_0 = encode(input_ids_0, mask_0, ctx)?;
        let pooled_1 = encode(input_ids_1, mask_1, ctx)?;
        self.seq_classifer.forward(&pooled_0, &pooled_1)
    }

    pub fn forward_with_labels(
        &self,
        input_ids_0: &Tensor,
        input_ids_1: &Tensor,
        mask_0: &Tensor,
        mask_1: &Tensor,
        labels: &Tensor,
        ctx: &mut ForwardContext,
    ) -> Result<ClassifierOutput> {
        classifier_output(
            self.forward(input_ids_0, input_ids_1, mask_0, mask_1, ctx)?,
            labels,
        )
    }

    pub fn named_parameters(&self) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        self.model.visit_params("model", &mut out);
        self.seq_classifer
            .head
            .visit_params("seq_classifer", &mut out);
        out
    }

    pub fn num_parameters(&self) -> usize {
        self.named_parameters()
            .iter()
            .map(|(_, t)| t.elem_count())
            .sum()
    }

    pub fn summary(&self, style: ReprStyle) -> String {
        ModuleRepr::node(
            "ModelForSCDual",
            vec![
                ("model".into(), self.model.repr(style)),
                (
                    "seq_classifer".into(),
                    self.seq_classifer.head.repr("SCHeadDual"),
                ),
            ],
        )
        .render()
    }
}

impl fmt::Display for ModelForSCDual {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let style = if f.alternate() {
            ReprStyle::Torch2
        } else {
            ReprStyle::Torch18
        };
        f.write_str(&self.summary(style))
    }
}
