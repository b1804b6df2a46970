"""ppliteformer: PaddleNLP Transformers -> PaddleSlim compression -> Paddle Lite .nb."""
