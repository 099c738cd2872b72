#!/usr/bin/env bash
# The commands that produced the shipped checkpoints (one line each; run from the repository root).
# Each writes checkpoints/<name>.safetensors + .json; scripts/ship_checkpoint.py then records the
# fixed 1,000-image test-subset accuracy that tests/test_shipped_checkpoints.py re-checks.
set -euo pipefail
train() { python -m cnndemo train --log-every 50 "$@"; }
case "${1:-all}" in
  lenet5_mnist|all)   train --model lenet5_mnist --dataset mnist --epochs 8 --batch-size 128 --lr 0.003 --out checkpoints/lenet5_mnist ;;&
  mnist_cnn|all)      train --model mnist_cnn --dataset mnist --epochs 8 --batch-size 128 --lr 0.003 --out checkpoints/mnist_cnn ;;&
  mnist_inception|all) train --model mnist_inception --dataset mnist --epochs 8 --batch-size 128 --lr 0.003 --out checkpoints/mnist_inception ;;&
  lenet5_fashion|all) train --model lenet5_fashion --dataset fashion_mnist --epochs 15 --batch-size 128 --lr 0.003 --out checkpoints/lenet5_fashion ;;&
  lenet5|all)         train --model lenet5 --dataset cifar10 --epochs 40 --batch-size 128 --lr 0.003 --out checkpoints/lenet5 ;;&
  alexnet_cifar|all)  train --model alexnet_cifar --dataset cifar10 --epochs 15 --batch-size 128 --lr 0.001 --out checkpoints/alexnet_cifar ;;&
  resnet18_cifar|all) train --model resnet18_cifar --dataset cifar10 --epochs 15 --batch-size 128 --lr 0.1 --optimizer sgd --weight-decay 0.0005 --label-smoothing 0.1 --out checkpoints/resnet18_cifar ;;&
  vgg16_bn_cifar|all) train --model vgg16_bn_cifar --dataset cifar10 --epochs 8 --batch-size 128 --lr 0.1 --optimizer sgd --weight-decay 0.0005 --label-smoothing 0.1 --out checkpoints/vgg16_bn_cifar ;;&
  densenet121_cifar|all) train --model densenet121_cifar --dataset cifar10 --epochs 6 --batch-size 128 --lr 0.1 --optimizer sgd --weight-decay 0.0005 --label-smoothing 0.1 --out checkpoints/densenet121_cifar ;;&
  googlenet_cifar|all) train --model googlenet_cifar --dataset cifar10 --epochs 5 --sizes 16,16,16,20,24 --batch-size 128 --lr 0.1 --optimizer sgd --weight-decay 0.0005 --label-smoothing 0.1 --time-budget 7400 --out checkpoints/googlenet_cifar ;;&
  *) ;;
esac
