"""Classification heads the project trains over BERT-family encoders.

``transformers`` classifies BERT from the [CLS] token through the pooler. all-MiniLM-L6-v2 was
trained as a sentence encoder whose embedding is the *mean* of its token states, so its [CLS]
state carries less of the sentence: a logistic regression on frozen features of sent_train.csv
scores 0.775 accuracy / 0.682 macro-F1 on sent_valid.csv from mean-pooled states against
0.742 / 0.629 from [CLS] (docs/models.md). :class:`MeanPoolBertForSequenceClassification`
keeps the encoder's own pooling and puts a linear classifier on top; it is a regular
``PreTrainedModel``, so peft, ``save_pretrained``, ONNX export and ``transformers.pipeline`` work
on it as on ``BertForSequenceClassification``.
"""
from __future__ import annotations

import torch
from transformers import BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

#: How a fine-tuned folder's head pools token states (``crowdpulse_model.json`` key ``pooling``).
POOLINGS = ("cls", "mean")


class MeanPoolBertForSequenceClassification(BertPreTrainedModel):
    """BERT encoder, attention-masked mean of the last hidden states, dropout, linear classifier."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        drop = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = torch.nn.Dropout(drop)
        self.classifier = torch.nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            loss = torch.nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


def classifier_class(pooling: str):
    """The model class for a pooling name (``cls``: transformers' own Auto class)."""
    if pooling == "mean":
        return MeanPoolBertForSequenceClassification
    if pooling == "cls":
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification
    raise ValueError(f"unknown pooling {pooling!r}; use one of {', '.join(POOLINGS)}")
